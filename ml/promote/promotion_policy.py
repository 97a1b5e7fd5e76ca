"""A promotion policy is data: the target environment declares it in its stack (`mlops:promotion`).

Parsed like every stack section `ml` reads (`ml.config_section`): camelCase keys, unknown keys refused
with the closest known one, frozen typed objects, errors that name the stack, the key and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from ml.config_section import Flag, Number, Section, SectionError, Whole, parse_section

LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "log_loss"})


class PolicyError(SectionError):
    """The `mlops:promotion` section of a stack cannot be used; the message names the key."""


class Mode(StrEnum):
    ENABLED = "enabled"
    DRY_RUN = "dry_run"


class Threshold(Section):
    """A metric the candidate must reach: `{metric: roc_auc, threshold: 0.9, higherIsBetter: true}`."""

    metric: str
    threshold: Number
    higher_is_better: Flag = True

    @model_validator(mode="before")
    @classmethod
    def _both_keys(cls, value: Any) -> Any:
        if not isinstance(value, Mapping) or "metric" not in value or "threshold" not in value:
            raise ValueError("needs 'metric' and 'threshold'")
        return value

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.higher_is_better else value <= self.threshold

    def describe(self) -> str:
        return f"{self.metric} {'>=' if self.higher_is_better else '<='} {self.threshold:g}"


class PromotionPolicy(Section):
    """What a candidate must show before it becomes the target's `champion`."""

    mode: Mode = Field(default=Mode.ENABLED, description=", ".join(m.value for m in Mode))
    require_approval: Flag = False
    thresholds: tuple[Threshold, ...] = ()
    champion_tolerance: Mapping[str, Number] = Field(default_factory=dict)
    """metric -> how much worse than the current champion (on the same held-out rows) is tolerated."""
    drift_check: Flag = False
    drift_psi_threshold: Number = Field(default=0.2, gt=0, description="a positive number")
    probe_rows: Whole = Field(default=20, ge=1, description="at least 1")

    @field_validator("thresholds", mode="before")
    @classmethod
    def _thresholds_list(cls, value: Any) -> Any:
        return () if value is None else value

    @field_validator("champion_tolerance", mode="before")
    @classmethod
    def _tolerance_map(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(f"must map metric -> tolerance, got {value!r}")
        return value

    def direction(self, metric: str) -> bool:
        """Whether higher is better for `metric`: declared by a threshold, else inferred from its name."""
        for threshold in self.thresholds:
            if threshold.metric == metric:
                return threshold.higher_is_better
        return metric not in LOWER_IS_BETTER


def parse_policy(stack: str, raw: Mapping[str, Any] | None) -> PromotionPolicy:
    """Turn a stack's `mlops:promotion` mapping into a policy; a stack without one gets safe defaults."""
    return parse_section(PromotionPolicy, "promotion", stack, raw, PolicyError)
