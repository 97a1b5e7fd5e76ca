"""One loaded model version: its input schema, its fast path and the full sklearn model behind it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ml.serve.datacontract import apply_contract
from ml.serve.errors import RequestError
from ml.serve.fastpath import FastPath, compile_fast_path
from ml.serve.loader import Manifest, verify_cached
from ml.serve.schema import Batch, InputSchema
from ml.serve.validate import parse_batch

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """The model's answer as numpy arrays (binary protocols send them as they are) and as JSON-ready lists."""

    labels: Any
    proba: Any | None
    classes: list[Any] | None

    @cached_property
    def predictions(self) -> list[Any]:
        return list(self.labels.tolist())

    @cached_property
    def probabilities(self) -> list[list[float]] | None:
        return None if self.proba is None else list(self.proba.tolist())


@dataclass
class Predictor:
    manifest: Manifest
    alias: str | None
    schema: InputSchema
    signature: dict[str, Any]
    model: Any
    fast: FastPath | None

    @property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.model, "classes_", None)
        return None if classes is None or not hasattr(self.model, "predict_proba") else classes.tolist()

    def parse(self, body: Any, *, max_rows: int, reject_extra: bool) -> Batch:
        return parse_batch(body, self.schema, max_rows=max_rows, reject_extra=reject_extra)

    def predict(self, batch: Batch) -> Prediction:
        if self.fast is not None:
            preds, proba = self.fast.predict(batch)
        else:
            preds, proba = self._full(batch)
        return Prediction(np.asarray(preds), proba, None if proba is None else self.classes)

    def _full(self, batch: Batch) -> tuple[Any, Any]:
        import pandas as pd

        frame = pd.DataFrame({name: _missing_as_nan(batch.columns[name]) for name in self.schema.names})
        try:
            if self.classes is not None:
                proba = self.model.predict_proba(frame)
                return np.asarray(self.model.classes_)[np.asarray(proba).argmax(axis=1)], np.asarray(proba)
            return np.asarray(self.model.predict(frame)), None
        except (ValueError, TypeError) as exc:
            # sklearn signals bad values (unknown category, NaN it cannot take) with ValueError/TypeError.
            raise RequestError.single("invalid_value", f"the model rejected the input: {exc}") from exc


def _missing_as_nan(values: Any) -> Any:
    # Training data read by pandas marks a missing string as NaN, which imputers recognise; None they do not.
    if values.dtype == object:
        return np.array([np.nan if v is None else v for v in values.tolist()], dtype=object)
    return values


def load_predictor(version_dir: Path, alias: str | None, *, fast_path: bool = True) -> Predictor:
    """Load a cached model version and check its fast path against the full model before using it."""
    import mlflow.sklearn
    from mlflow.models import Model

    model_dir = version_dir / "model"
    # Checked again in every worker before anything is read: the cache may have changed since the runner's check.
    verify_cached(version_dir)
    meta = Model.load(str(model_dir))
    if meta.signature is None:
        raise ValueError(f"{version_dir} has no signature: log the model with signature=infer_signature(X, y)")
    signature = meta.signature.to_dict()
    model = mlflow.sklearn.load_model(str(model_dir))
    schema = apply_contract(InputSchema.from_signature_inputs(json.loads(signature["inputs"])), meta.metadata, model)
    fast = compile_fast_path(model, schema) if fast_path else None
    predictor = Predictor(Manifest.read(version_dir), alias, schema, signature, model, fast)
    if fast is not None:
        example = _input_example(meta, model_dir)
        if example is None or not _agrees(predictor, example):
            log.warning("fast path disagrees with the model or cannot be checked; using the full sklearn model")
            predictor.fast = None
    log.info(
        "loaded %s version %s (fast path %s)",
        predictor.manifest.name,
        predictor.manifest.version,
        "on" if predictor.fast else "off",
    )
    return predictor


def _input_example(meta: Any, model_dir: Path) -> Any:
    if not meta.saved_input_example_info:
        return None
    path = model_dir / meta.saved_input_example_info["artifact_path"]
    return json.loads(path.read_text())


def _agrees(predictor: Predictor, example: Any) -> bool:
    fast = predictor.fast
    assert fast is not None
    try:
        body = {"dataframe_split": example} if "data" in example else example
        batch = predictor.parse(body, max_rows=10_000, reject_extra=False)
        got, got_proba = fast.predict(batch)
        want, want_proba = predictor._full(batch)
    except Exception:
        log.exception("fast path check failed on the input example")
        return False
    same = bool(np.array_equal(got, want)) if got.dtype.kind in "OUSb" else bool(np.allclose(got, want))
    if got_proba is not None:
        same = same and want_proba is not None and bool(np.allclose(got_proba, want_proba, rtol=1e-7, atol=1e-9))
    return same
