"""Behavioural checks on a trained model, run as gates: their results are logged and tagged, and a model
that fails one is registered with ``gates.passed=false`` and never becomes the ``challenger``.

Gates are data: each is a typed object with its threshold and direction, read from the training config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ml.spec import DatasetSpec, Task

if TYPE_CHECKING:
    import pandas as pd

    from ml.evaluate import Predictions


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricGate(_Strict):
    """Minimum (or maximum) quality on the whole held-out set."""

    metric: str
    threshold: float
    higher_is_better: bool = True


class SliceGate(_Strict):
    """Minimum quality on the held-out rows where ``column`` is in [min, max] or equals ``equals``."""

    name: str
    column: str
    min: float | None = None
    max: float | None = None
    equals: str | None = None
    metric: str
    threshold: float
    higher_is_better: bool = True
    min_rows: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _has_condition(self) -> SliceGate:
        if self.min is None and self.max is None and self.equals is None:
            raise ValueError("a slice needs min, max or equals")
        return self


class InvarianceGate(_Strict):
    """Predictions must barely move when numeric features get measurement-sized noise.

    Noise is ``noise_scale`` times each column's standard deviation. Classification: at most
    ``max_changed_rate`` of predicted labels may change. Regression: the mean absolute change of the
    prediction may be at most ``max_changed_rate`` times the predictions' standard deviation.
    """

    columns: list[str] | None = None
    noise_scale: float = Field(default=0.01, gt=0.0)
    max_changed_rate: float = Field(default=0.02, ge=0.0, le=1.0)


class GatesConfig(_Strict):
    min_metrics: list[MetricGate] = Field(default_factory=list)
    slices: list[SliceGate] = Field(default_factory=list)
    invariance: InvarianceGate | None = InvarianceGate()


@dataclass(frozen=True)
class GateResult:
    name: str
    kind: str
    passed: bool
    value: float | None
    threshold: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _compare(value: float, threshold: float, higher_is_better: bool) -> bool:
    return value >= threshold if higher_is_better else value <= threshold


def check_config(gates: GatesConfig, spec: DatasetSpec) -> None:
    """Fail before training when a gate names a column the dataset does not have."""
    from ml.spec import SpecError

    names = [s.column for s in gates.slices] + list((gates.invariance and gates.invariance.columns) or [])
    unknown = sorted({n for n in names if n not in spec.columns})
    if unknown:
        raise SpecError(f"gates name columns that are not in dataset {spec.name!r}: {unknown}; fix gates.*.column")


def run_gates(
    model: Any,
    features: pd.DataFrame,
    target: pd.Series,
    spec: DatasetSpec,
    gates: GatesConfig,
    metrics: dict[str, float],
    seed: int,
    predictions: Predictions,
) -> list[GateResult]:
    """Run every configured gate; ``predictions`` are the model's outputs on ``features`` (computed once)."""
    from ml.evaluate import metrics_of

    results: list[GateResult] = []
    for gate in gates.min_metrics:
        value = metrics.get(gate.metric)
        ok = value is not None and _compare(value, gate.threshold, gate.higher_is_better)
        detail = f"{gate.metric}={value}" if value is not None else f"unknown metric {gate.metric!r}"
        results.append(GateResult(f"min_{gate.metric}", "metric", ok, value, gate.threshold, detail))
    for slice_gate in gates.slices:
        mask = _slice_mask(features, slice_gate)
        rows = int(mask.sum())
        if rows < slice_gate.min_rows:
            detail = f"slice has {rows} rows, fewer than min_rows={slice_gate.min_rows}"
            results.append(GateResult(slice_gate.name, "slice", False, None, slice_gate.threshold, detail))
            continue
        slice_metrics = metrics_of(predictions.subset(mask.to_numpy()), target[mask], spec.task)
        value = slice_metrics.get(slice_gate.metric)
        ok = value is not None and _compare(value, slice_gate.threshold, slice_gate.higher_is_better)
        detail = f"{slice_gate.metric}={value} on {rows} rows"
        results.append(GateResult(slice_gate.name, "slice", ok, value, slice_gate.threshold, detail))
    if gates.invariance is not None:
        results.append(_invariance(model, features, spec, gates.invariance, seed, predictions.labels))
    return results


def _slice_mask(features: pd.DataFrame, gate: SliceGate) -> pd.Series:
    column = features[gate.column]
    mask = column.notna()
    if gate.equals is not None:
        mask &= column.astype(str) == gate.equals
    if gate.min is not None:
        mask &= column >= gate.min
    if gate.max is not None:
        mask &= column <= gate.max
    return mask


def _invariance(
    model: Any, features: pd.DataFrame, spec: DatasetSpec, gate: InvarianceGate, seed: int, before: Any
) -> GateResult:
    import numpy as np

    rng = np.random.default_rng(seed)
    columns = gate.columns or spec.numeric_columns
    perturbed = features.copy()
    for name in columns:
        values = perturbed[name].astype("float64")
        scale = float(np.nanstd(values.to_numpy())) * gate.noise_scale
        perturbed[name] = values + rng.normal(0.0, scale, size=len(values))
    after = model.predict(perturbed)
    if spec.task is Task.REGRESSION:
        spread = float(np.std(before)) or 1.0
        value = float(np.mean(np.abs(after - before))) / spread
        what = "mean |change| / std of predictions"
    else:
        value = float(np.mean(before != after))
        what = "share of predicted labels that changed"
    detail = f"{what} = {value:.4f} under noise {gate.noise_scale} x std on {len(columns)} columns"
    return GateResult(
        "invariance_noise", "invariance", value <= gate.max_changed_rate, value, gate.max_changed_rate, detail
    )


def gates_passed(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)
