"""Fitted sklearn transformers turned into plain numpy functions for the fast path.

Each function reproduces the transformer's own arithmetic on the fitted attributes; a transformer or an
option that is not reproduced exactly raises Unsupported, which sends the model down the full sklearn path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ml.serve.errors import RequestError
from ml.serve.schema import Batch

BlockFn = Callable[[Batch], Any]


class Unsupported(Exception):
    """Part of the model the fast path does not reproduce."""


def compile_transformer(trans: Any, names: list[str], double_index: dict[str, int]) -> BlockFn:
    """A function from a validated batch to this transformer's output block."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    chain = [s for _, s in trans.steps] if isinstance(trans, Pipeline) else [trans]
    chain = [s for s in chain if s not in (None, "passthrough") and not _is_identity(s, FunctionTransformer)]
    if chain and isinstance(chain[-1], OneHotEncoder):
        fills = [_object_fill(s, len(names)) for s in chain[:-1]]
        return _one_hot(chain[-1], names, fills)
    matrix = [compile_matrix_step(s) for s in chain]
    source = numeric_source(names, double_index)

    def run(batch: Batch) -> Any:
        X = source(batch)
        for step in matrix:
            X = step(X)
        return X

    return run


def numeric_source(names: list[str], double_index: dict[str, int]) -> BlockFn:
    """The (rows x len(names)) float matrix of these columns: one slice of Batch.doubles when all are doubles."""
    if names and all(n in double_index for n in names):
        rows_of = np.array([double_index[n] for n in names])
        return lambda batch: batch.doubles[rows_of].T

    def stack(batch: Batch) -> Any:
        return np.column_stack([_as_float(batch.columns[n]) for n in names])

    return stack


def compile_matrix_step(step: Any) -> Callable[[Any], Any]:
    """A function on a dense float matrix, for imputers and scalers."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    from ml.features import QuantileClipper

    if type(step) is QuantileClipper:
        lower, upper = step.lower_bounds_, step.upper_bounds_
        return lambda X: np.clip(X, lower, upper)
    if type(step) is StandardScaler:
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def standard(X: Any) -> Any:
            if mean is not None:
                X = X - mean
            if scale is not None:
                X = X / scale
            return X

        return standard
    if type(step) is MinMaxScaler and not step.clip:
        mm_scale, mm_min = step.scale_, step.min_
        return lambda X: X * mm_scale + mm_min
    if type(step) is SimpleImputer:
        stats = _numeric_stats(step)

        def impute(X: Any) -> Any:
            holes = np.isnan(X)
            if holes.any():
                X = np.where(holes, stats, X)
            return X

        return impute
    raise Unsupported(f"{type(step).__name__} in a numeric block")


def _is_identity(step: Any, function_transformer: type) -> bool:
    return type(step) is function_transformer and getattr(step, "func", None) is None


def _numeric_stats(imputer: Any) -> Any:
    missing = imputer.missing_values
    if imputer.add_indicator or not (isinstance(missing, float) and np.isnan(missing)):
        raise Unsupported("SimpleImputer with indicator or non-NaN missing_values")
    try:
        stats = np.asarray(imputer.statistics_, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise Unsupported("SimpleImputer with non-numeric statistics on a numeric block") from exc
    if np.isnan(stats).any():
        raise Unsupported("SimpleImputer with all-missing features")
    return stats


def _object_fill(imputer: Any, width: int) -> list[Any]:
    from sklearn.impute import SimpleImputer

    if type(imputer) is not SimpleImputer or imputer.add_indicator:
        raise Unsupported(f"{type(imputer).__name__} before OneHotEncoder")
    missing = imputer.missing_values
    if not (missing is None or (isinstance(missing, float) and np.isnan(missing))):
        raise Unsupported("SimpleImputer with custom missing_values before OneHotEncoder")
    stats = list(imputer.statistics_)
    if len(stats) != width:
        raise Unsupported("SimpleImputer dropped empty features")
    return stats


def _one_hot(enc: Any, names: list[str], fills: list[list[Any]]) -> BlockFn:
    if enc.drop_idx_ is not None or getattr(enc, "_infrequent_enabled", False):
        raise Unsupported("OneHotEncoder with drop or infrequent categories")
    if enc.handle_unknown not in ("ignore", "error"):
        raise Unsupported(f"OneHotEncoder handle_unknown={enc.handle_unknown!r}")
    strict = enc.handle_unknown == "error"
    lookups: list[dict[Any, int]] = []
    offset = 0
    for cats in enc.categories_:
        values = cats.tolist()
        if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in values):
            raise Unsupported("OneHotEncoder with missing values as a category")
        lookups.append({v: offset + i for i, v in enumerate(values)})
        offset += len(values)
    width = offset

    def run(batch: Batch) -> Any:
        out = np.zeros((batch.rows, width), dtype=np.float64)
        for j, name in enumerate(names):
            lookup = lookups[j]
            for i, value in enumerate(_filled(batch.columns[name], [f[j] for f in fills])):
                k = lookup.get(value)
                if k is not None:
                    out[i, k] = 1.0
                elif strict:
                    raise RequestError.single(
                        "invalid_value",
                        f"column {name!r} row {i}: unknown category {value!r}; known: {sorted(map(str, lookup))}",
                        column=name,
                        row=i,
                    )
        return out

    return run


def _filled(values: Any, fills: list[Any]) -> list[Any]:
    out = values.tolist()
    for fill in fills:
        out = [fill if v is None else v for v in out]
    return out


def _as_float(values: Any) -> Any:
    if values.dtype == object:
        return np.array([np.nan if v is None else v for v in values.tolist()], dtype=np.float64)
    return values.astype(np.float64, copy=False)
