"""The reference profile: how the training data and its predictions looked, small enough for the registry.

Numeric columns keep quantile bin edges with the reference count in each bin, so that monitoring can
bin any amount of live data against the same edges in one streaming pass (PSI, and KS from the binned
CDFs). Categorical columns keep category counts. The layout is the contract in docs/architecture.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

PROFILE_VERSION = 1
FINE_BINS = 100
MAX_CATEGORIES = 200
OTHER = "__other__"
PREDICTION = "_prediction"
PROBA = "_proba"
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_SIGNIFICANT = 10


def _round(value: float) -> float:
    if not math.isfinite(value) or value == 0.0:
        return float(value)
    return float(f"{value:.{_SIGNIFICANT}g}")


def _spec_columns(spec: Any) -> dict[str, dict[str, Any]]:
    """Column name -> {kind, min, max, categories} from an ``ml.spec.DatasetSpec`` (or a plain mapping
    ``{"columns": {name: {"type": ..., "min": ..., "categories": ...}}}``)."""
    if spec is None:
        return {}
    columns = spec.get("columns") if isinstance(spec, Mapping) else getattr(spec, "columns", None)
    if not isinstance(columns, Mapping):
        raise TypeError(
            f"dataset spec {type(spec).__name__} has no 'columns' mapping; pass the DatasetSpec from "
            "ml.spec, or spec=None to infer column types from dtypes"
        )
    out: dict[str, dict[str, Any]] = {}
    for name, col in columns.items():
        fields = col if isinstance(col, Mapping) else vars(col)
        kind = str(getattr(fields.get("type"), "value", fields.get("type")) or "").lower()
        allowed = fields.get("categories")
        lo, hi = fields.get("min"), fields.get("max")
        out[str(name)] = {
            "kind": "categorical" if allowed is not None or kind in {"category", "categorical"} else "numeric",
            "min": None if lo is None else float(lo),
            "max": None if hi is None else float(hi),
            "categories": None if allowed is None else [str(v) for v in allowed],
        }
    return out


def infer_kind(series: pd.Series) -> str:
    """numeric for int/float dtypes, categorical for everything else (bool, object, string, category)."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "categorical"
    return "numeric"


def numeric_profile(values: Any, bins: int = FINE_BINS) -> dict[str, Any]:
    """Quantile bin edges and the reference count per bin, plus summary statistics."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")
    n_total = x.size
    finite = x[np.isfinite(x)]
    n = int(finite.size)
    if n == 0:
        return {
            "kind": "numeric",
            "rows": n_total,
            "count": 0,
            "null_rate": 1.0 if n_total else 0.0,
            "edges": [],
            "counts": [],
            "quantiles": {},
            "mean": None,
            "std": None,
            "min": None,
            "max": None,
        }
    # Interior edges only: bin i holds values in [edges[i-1], edges[i]), with open first and last bins,
    # so live values beyond the training range still land in a bin instead of being dropped.
    # Few distinct values (counts, codes, flags): one bin per value, so binning loses nothing.
    distinct = np.unique(finite)
    if distinct.size <= bins:
        interior = distinct
    else:
        probs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        interior = np.unique([_round(v) for v in np.quantile(finite, probs)])
    counts = np.bincount(np.searchsorted(interior, finite, side="right"), minlength=interior.size + 1)
    return {
        "kind": "numeric",
        "rows": n_total,
        "count": n,
        "null_rate": float((n_total - n) / n_total),
        "edges": [float(v) for v in interior],
        "counts": [int(c) for c in counts],
        "quantiles": {str(q): _round(float(v)) for q, v in zip(QUANTILES, np.quantile(finite, QUANTILES), strict=True)},
        "mean": _round(float(finite.mean())),
        "std": _round(float(finite.std())),
        "min": _round(float(finite.min())),
        "max": _round(float(finite.max())),
    }


def category_strings(values: pd.Series) -> pd.Series:
    """Categories as strings, with integral floats written as integers so 1, 1.0 and "1" agree."""
    if pd.api.types.is_float_dtype(values):
        arr = values.to_numpy(dtype="float64")
        if np.all(arr == np.round(arr)):
            return pd.Series(arr.astype("int64"), index=values.index).astype(str)
    if pd.api.types.is_bool_dtype(values):
        return values.map(lambda v: "true" if v else "false")
    return values.astype(str)


def categorical_profile(values: Any, max_categories: int = MAX_CATEGORIES) -> dict[str, Any]:
    """Category counts; the rarest categories beyond max_categories are pooled under __other__."""
    s = pd.Series(values)
    n_total = int(s.size)
    present = category_strings(s.dropna())
    counts = present.value_counts()
    top = counts.iloc[:max_categories]
    out = {str(k): int(v) for k, v in top.items()}
    rest = int(counts.iloc[max_categories:].sum())
    if rest:
        out[OTHER] = rest
    return {
        "kind": "categorical",
        "rows": n_total,
        "count": int(present.size),
        "null_rate": float((n_total - present.size) / n_total) if n_total else 0.0,
        "counts": out,
    }


def _column_profile(series: pd.Series, kind: str) -> dict[str, Any]:
    return numeric_profile(series) if kind == "numeric" else categorical_profile(series)


def _prediction_columns(predictions: Any) -> dict[str, pd.Series]:
    if predictions is None:
        return {}
    if isinstance(predictions, pd.DataFrame):
        out = {}
        for key, names in ((PREDICTION, ("_prediction", "prediction")), (PROBA, ("_proba", "proba"))):
            for name in names:
                if name in predictions.columns:
                    out[key] = predictions[name].reset_index(drop=True)
                    break
        if PREDICTION not in out:
            raise ValueError(
                f"predictions DataFrame needs a '_prediction' (or 'prediction') column; got {list(predictions.columns)}"
            )
        return out
    arr = np.asarray(predictions)
    if arr.ndim != 1:
        raise ValueError(
            f"predictions must be one value per row (1-D), got shape {arr.shape}; pass a DataFrame with "
            "'_prediction' and '_proba' columns to include probabilities"
        )
    return {PREDICTION: pd.Series(arr)}


def build_reference_profile(features: pd.DataFrame, predictions: Any = None, spec: Any = None) -> dict[str, Any]:
    """Profile of the training features and their predictions, JSON-serialisable.

    ``predictions`` is one value per row (array or Series) or a DataFrame with ``_prediction`` and
    optionally ``_proba``. ``spec`` is the dataset spec from ``ml.spec``; its column kinds, ranges and
    allowed categories are kept in the profile so monitoring can flag out-of-schema values. With
    ``spec=None`` kinds come from dtypes and no schema limits are recorded.
    """
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"features must be a pandas DataFrame, got {type(features).__name__}")
    if features.empty:
        raise ValueError("features is empty: build the reference profile from the training rows")
    declared = _spec_columns(spec)
    missing = sorted(set(declared) - set(features.columns))
    if missing and spec is not None:
        raise ValueError(f"features lack columns declared in the dataset spec: {missing}")
    columns: dict[str, Any] = {}
    for name in features.columns:
        series = features[name]
        info = declared.get(str(name), {})
        kind = info.get("kind") or infer_kind(series)
        profile = _column_profile(series, kind)
        profile["schema"] = {k: info.get(k) for k in ("min", "max", "categories") if info.get(k) is not None}
        columns[str(name)] = profile
    preds = {}
    for key, series in _prediction_columns(predictions).items():
        if len(series) != len(features):
            raise ValueError(f"{len(series)} predictions for {len(features)} feature rows: they must match")
        kind = "numeric" if key == PROBA else infer_kind(series)
        if (
            kind == "numeric"
            and key == PREDICTION
            and series.nunique() <= 20
            and np.allclose(series.dropna(), np.round(series.dropna()))
        ):
            kind = "categorical"
        preds[key] = _column_profile(series, kind)
    return {
        "version": PROFILE_VERSION,
        "rows": len(features),
        "features": columns,
        "predictions": preds,
    }
