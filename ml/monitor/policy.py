"""Monitoring thresholds and what a result means: the exit code, and whether to retrain.

The values come from the environment's ``mlops:monitoring`` stack config, e.g.::

    mlops:monitoring:
      psiThreshold: 0.2         # PSI above this marks a column as drifted
      ksPValue: 0.01            # family-wise significance of the KS / chi-squared tests
      nullRateIncrease: 0.05    # absolute rise of a column's null rate over the reference
      outOfSchemaRate: 0.01     # share of values outside the spec's range or categories
      qualityTolerance: 0.05    # allowed drop of a live metric below its registered value
      minRows: 200              # fewer rows than this: report, but judge nothing
      retrain: {onDrift: true, onQualityDecay: true, includeReference: false}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit codes of ``mlops monitor``; the first that applies, in this order of precedence."""

    HEALTHY = 0
    ERROR = 1
    QUALITY_DECAY = 4
    DATA_QUALITY = 5
    DRIFT = 3


EXIT_CODES_HELP = (
    "Exit codes: 0 healthy; 3 drift in features or predictions; 4 model quality decay (live metrics "
    "from labels below the registered ones); 5 data quality failure (null rates, out-of-schema values, "
    "missing columns); 1 error. When several apply: 4, then 5, then 3."
)

_KEYS = {
    "psiThreshold": "psi_threshold",
    "ksPValue": "p_value",
    "nullRateIncrease": "null_rate_increase",
    "outOfSchemaRate": "out_of_schema_rate",
    "qualityTolerance": "quality_tolerance",
    "minRows": "min_rows",
}
_RETRAIN_KEYS = {
    "onDrift": "retrain_on_drift",
    "onQualityDecay": "retrain_on_quality_decay",
    "includeReference": "include_reference",
}


@dataclass(frozen=True)
class Thresholds:
    psi_threshold: float = 0.2
    p_value: float = 0.01
    null_rate_increase: float = 0.05
    out_of_schema_rate: float = 0.01
    quality_tolerance: float = 0.05
    min_rows: int = 200
    retrain_on_drift: bool = True
    retrain_on_quality_decay: bool = True
    include_reference: bool = False

    def __post_init__(self) -> None:
        for name in ("p_value", "null_rate_increase", "out_of_schema_rate", "quality_tolerance"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"monitoring threshold {name}={value} must be between 0 and 1")
        if self.psi_threshold <= 0:
            raise ValueError(f"monitoring threshold psi_threshold={self.psi_threshold} must be positive")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, **overrides: Any) -> Thresholds:
        """From the stack's ``mlops:monitoring`` mapping, then explicit overrides that are not None."""
        values: dict[str, Any] = {}
        config = dict(config or {})
        retrain = config.pop("retrain", {}) or {}
        for source, keys in ((config, _KEYS), (retrain, _RETRAIN_KEYS)):
            for key, value in source.items():
                if key not in keys:
                    raise ValueError(
                        f"unknown key {key!r} in mlops:monitoring{'.retrain' if keys is _RETRAIN_KEYS else ''};"
                        f" known keys: {sorted(keys)}"
                    )
                values[keys[key]] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def exit_code(*, drift: bool, data_quality: bool, quality_decay: bool) -> ExitCode:
    if quality_decay:
        return ExitCode.QUALITY_DECAY
    if data_quality:
        return ExitCode.DATA_QUALITY
    if drift:
        return ExitCode.DRIFT
    return ExitCode.HEALTHY


def should_retrain(thresholds: Thresholds, *, drift: bool, quality_decay: bool) -> tuple[bool, str]:
    """Whether the policy asks for a retrain, and why, in words for the report."""
    if quality_decay and thresholds.retrain_on_quality_decay:
        return True, "live model quality fell below the registered metrics"
    if drift and thresholds.retrain_on_drift:
        return True, "drift detected in the monitored window"
    if drift or quality_decay:
        return False, "the monitoring policy does not retrain on this finding (mlops:monitoring.retrain)"
    return False, "healthy: nothing to retrain"
