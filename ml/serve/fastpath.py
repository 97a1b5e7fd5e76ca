"""A numpy fast path for fitted scikit-learn pipelines.

A ColumnTransformer run on a one-row DataFrame costs a few milliseconds of fixed overhead, while the
arithmetic is microseconds. For the transformers we understand, the fitted parameters are applied directly
to the per-column arrays; anything else returns None from `compile_fast_path` and the caller uses the
full sklearn model. `ml.serve.predictor` checks the fast path against the model before trusting it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.serve.errors import RequestError
from ml.serve.heads import Head, predict_head, proba_head
from ml.serve.schema import Batch, InputSchema
from ml.serve.steps import BlockFn, Unsupported, compile_matrix_step, compile_transformer, numeric_source

log = logging.getLogger(__name__)

MatrixFn = Callable[[Any], Any]


@dataclass
class FastPath:
    """Features from validated columns, then the final estimator on a dense float matrix."""

    blocks: list[tuple[slice, BlockFn]]
    width: int
    matrix_steps: list[MatrixFn]
    estimator: Any
    proba: Head | None
    regress: Head

    def features(self, batch: Batch) -> Any:
        X = np.empty((batch.rows, self.width), dtype=np.float64)
        # Overflow is detected below and answered with a 422; numpy's warning would only add log noise.
        with np.errstate(over="ignore", invalid="ignore"):
            for where, fn in self.blocks:
                X[:, where] = fn(batch)
            for step in self.matrix_steps:
                X = step(X)
        if not np.isfinite(X).all():
            raise RequestError.single(
                "invalid_value", "an input value is too large for the model's scaling; send values in a sane range"
            )
        return X

    def predict(self, batch: Batch) -> tuple[Any, Any | None]:
        X = self.features(batch)
        if self.proba is not None:
            proba = self.proba(X)
            return self.estimator.classes_[proba.argmax(axis=1)], proba
        return self.regress(X), None


def compile_fast_path(model: Any, schema: InputSchema) -> FastPath | None:
    """Return a FastPath equivalent to `model`, or None when some part of it is not understood."""
    try:
        return _compile(model, schema)
    except Unsupported as exc:
        log.info("fast path not available, using the full sklearn model: %s", exc)
        return None


def _compile(model: Any, schema: InputSchema) -> FastPath:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    steps = [s for _, s in model.steps] if isinstance(model, Pipeline) else [model]
    steps = [s for s in steps if s not in (None, "passthrough")]
    estimator, pre = steps[-1], steps[:-1]
    if pre and isinstance(pre[0], ColumnTransformer):
        blocks, width = _column_transformer(pre[0], schema.double_index)
        pre = pre[1:]
    else:
        names = [str(n) for n in getattr(estimator if not pre else pre[0], "feature_names_in_", schema.names)]
        blocks, width = [(slice(0, len(names)), numeric_source(names, schema.double_index))], len(names)
    matrix_steps = [compile_matrix_step(s) for s in pre]
    return FastPath(blocks, width, matrix_steps, estimator, proba_head(estimator), predict_head(estimator))


def _column_transformer(ct: Any, double_index: dict[str, int]) -> tuple[list[tuple[slice, BlockFn]], int]:
    # A sparse ColumnTransformer output becomes dense here: estimators give the same numbers for both,
    # and the start-up check in ml.serve.predictor compares them on the input example anyway.
    feature_names = [str(n) for n in ct.feature_names_in_]
    blocks: list[tuple[slice, BlockFn]] = []
    width = 0
    for name, trans, cols in ct.transformers_:
        where = ct.output_indices_[name]
        width = max(width, where.stop)
        if trans == "drop" or where.stop == where.start:
            continue
        names = _column_names(cols, feature_names)
        blocks.append((where, compile_transformer(trans, names, double_index)))
    return blocks, width


def _column_names(cols: Any, feature_names: list[str]) -> list[str]:
    if isinstance(cols, str):
        raise Unsupported("a transformer takes a single column as a 1-d array")
    try:
        items = list(cols)
    except TypeError as exc:
        raise Unsupported(f"column selector {cols!r}") from exc
    out = []
    for c in items:
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, int | np.integer) and not isinstance(c, bool | np.bool_):
            out.append(feature_names[int(c)])
        else:
            raise Unsupported(f"column selector {cols!r}")
    return out
