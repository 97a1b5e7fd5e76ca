"""A promotion policy is data: the target environment declares it in its stack (`mlops:promotion`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class PolicyError(ValueError):
    """The `mlops:promotion` section of a stack cannot be used; the message names the key."""


class Mode(StrEnum):
    ENABLED = "enabled"
    DRY_RUN = "dry_run"


@dataclass(frozen=True)
class Threshold:
    metric: str
    threshold: float
    higher_is_better: bool = True

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.higher_is_better else value <= self.threshold

    def describe(self) -> str:
        return f"{self.metric} {'>=' if self.higher_is_better else '<='} {self.threshold:g}"


@dataclass(frozen=True)
class PromotionPolicy:
    """What a candidate must show before it becomes the target's `champion`."""

    mode: Mode = Mode.ENABLED
    require_approval: bool = False
    thresholds: tuple[Threshold, ...] = ()
    # metric -> how much worse than the current champion (on the same held-out rows) is tolerated.
    champion_tolerance: Mapping[str, float] = field(default_factory=dict)
    drift_check: bool = False
    drift_psi_threshold: float = 0.2
    probe_rows: int = 20

    def direction(self, metric: str) -> bool:
        """Whether higher is better for `metric`: declared by a threshold, else inferred from its name."""
        for threshold in self.thresholds:
            if threshold.metric == metric:
                return threshold.higher_is_better
        return metric not in LOWER_IS_BETTER


LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "log_loss"})


def _number(stack: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PolicyError(f"stack '{stack}': mlops:promotion.{key} must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError as exc:
        raise PolicyError(f"stack '{stack}': mlops:promotion.{key} must be a number, got {value!r}") from exc


def _flag(stack: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise PolicyError(f"stack '{stack}': mlops:promotion.{key} must be true or false, got {value!r}")


def parse_policy(stack: str, raw: Mapping[str, Any] | None) -> PromotionPolicy:
    """Turn a stack's `mlops:promotion` mapping into a policy; a stack without one gets safe defaults."""
    raw = dict(raw or {})
    known = {
        "mode",
        "requireApproval",
        "thresholds",
        "championTolerance",
        "driftCheck",
        "driftPsiThreshold",
        "probeRows",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PolicyError(
            f"stack '{stack}': unknown key(s) mlops:promotion.{', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
        )
    mode_value = str(raw.get("mode", Mode.ENABLED.value))
    if mode_value not in {m.value for m in Mode}:
        raise PolicyError(f"stack '{stack}': mlops:promotion.mode = {mode_value!r}; allowed: enabled, dry_run")
    thresholds = []
    for i, item in enumerate(raw.get("thresholds") or []):
        if not isinstance(item, Mapping) or "metric" not in item or "threshold" not in item:
            raise PolicyError(f"stack '{stack}': mlops:promotion.thresholds[{i}] needs 'metric' and 'threshold'")
        thresholds.append(
            Threshold(
                metric=str(item["metric"]),
                threshold=_number(stack, f"thresholds[{i}].threshold", item["threshold"]),
                higher_is_better=_flag(stack, f"thresholds[{i}].higherIsBetter", item.get("higherIsBetter", True)),
            )
        )
    tolerance_raw = raw.get("championTolerance") or {}
    if not isinstance(tolerance_raw, Mapping):
        raise PolicyError(f"stack '{stack}': mlops:promotion.championTolerance must map metric -> tolerance")
    tolerance = {str(k): _number(stack, f"championTolerance.{k}", v) for k, v in tolerance_raw.items()}
    probe_rows = int(_number(stack, "probeRows", raw.get("probeRows", 20)))
    if probe_rows < 1:
        raise PolicyError(f"stack '{stack}': mlops:promotion.probeRows must be at least 1")
    return PromotionPolicy(
        mode=Mode(mode_value),
        require_approval=_flag(stack, "requireApproval", raw.get("requireApproval", False)),
        thresholds=tuple(thresholds),
        champion_tolerance=tolerance,
        drift_check=_flag(stack, "driftCheck", raw.get("driftCheck", False)),
        drift_psi_threshold=_number(stack, "driftPsiThreshold", raw.get("driftPsiThreshold", 0.2)),
        probe_rows=probe_rows,
    )
