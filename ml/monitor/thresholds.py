"""Monitoring thresholds and what a result means: the exit code, and whether to retrain.

The values come from the environment's ``mlops:monitoring`` stack config, parsed like every stack section
`ml` reads (`ml.config_section`), e.g.::

    mlops:monitoring:
      psiThreshold: 0.2         # PSI above this marks a column as drifted
      ksPValue: 0.01            # family-wise significance of the KS / chi-squared tests
      nullRateIncrease: 0.05    # absolute rise of a column's null rate over the reference
      outOfSchemaRate: 0.01     # share of values outside the spec's range or categories
      qualityTolerance: 0.05    # allowed drop of a live metric below its registered value
      minRows: 200              # fewer rows than this: report, but judge nothing
      retrain: {onDrift: true, onQualityDecay: true, includeReference: false, trainConfig: PATH}

and the closed loop's keys (labels, promoteTo, promotionRequest, webhookSecret, schedule): see
`ml.monitor.loop_policy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from ml.config_section import Flag, Number, Section, SectionError, Whole, parse_section
from ml.monitor.loop_policy import (
    SET_GITHUB_TOKEN,
    SET_SECRET,
    CronExpression,
    EnvName,
    GitHubTokenSecret,
    PromotionRequestPolicy,
    PulumiSecret,
    Text,
)


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


def _share(default: float, **alias: Any) -> Any:
    """A rate or a probability: a number between 0 and 1."""
    return Field(default, ge=0, le=1, description="a number between 0 and 1", **alias)


class MonitoringConfigError(SectionError):
    """The `mlops:monitoring` section of a stack (or an override of it) cannot be used."""


class RetrainPolicy(Section):
    """``mlops:monitoring.retrain``: which findings ask for a retrain, and on which data."""

    on_drift: Flag = True
    on_quality_decay: Flag = True
    include_reference: Flag = False
    train_config: Text | None = Field(
        default=None, description="the path of the model's training config, relative to the project"
    )


class Thresholds(Section):
    psi_threshold: Number = Field(default=0.2, gt=0, description="a positive number")
    # `ksPValue`, not the camelCase of the field name: the tests it sets the significance of are KS tests.
    p_value: Number = _share(0.01, validation_alias="ksPValue")
    null_rate_increase: Number = _share(0.05)
    out_of_schema_rate: Number = _share(0.01)
    quality_tolerance: Number = _share(0.05)
    min_rows: Whole = Field(default=200, ge=0, description="a whole number, 0 or more")
    retrain: RetrainPolicy = RetrainPolicy()
    labels: Text | None = Field(default=None, description="the ground-truth sink, a path or URI like --labels")
    promote_to: EnvName | None = Field(default=None, description="the name of the stack a challenger goes to next")
    promotion_request: PromotionRequestPolicy = PromotionRequestPolicy()
    webhook_secret: PulumiSecret | None = Field(default=None, repr=False)
    github_token: GitHubTokenSecret | None = Field(default=None, repr=False)
    schedule: CronExpression | None = Field(default=None, description="a 5-field cron expression (UTC)")
    """Read by the schedulers (infra, the workflows); accepted here so the section parses."""

    @field_validator("retrain", "promotion_request", mode="before")
    @classmethod
    def _section_defaults(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _signed_webhook(self) -> Thresholds:
        if self.promotion_request.webhook_url and self.webhook_secret is None:
            raise ValueError(
                "needs webhookSecret (a Pulumi secret) when promotionRequest.webhookUrl is set: the webhook's "
                f"receiver checks the signature with it; run `{SET_SECRET}`"
            )
        if self.promotion_request.github and self.github_token is None:
            raise ValueError(
                "needs githubToken (a Pulumi secret) when promotionRequest.github is set: a token that may run the "
                f"workflow (actions: write); run `{SET_GITHUB_TOKEN}`"
            )
        return self

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, *, stack: str | None = None, **overrides: Any) -> Thresholds:
        """From the stack's ``mlops:monitoring`` mapping, then explicit overrides (by field name) that are not None."""
        keys: dict[str, Any] = {n: info.validation_alias or info.alias or n for n, info in cls.model_fields.items()}
        unknown = sorted(set(overrides) - set(keys))
        if unknown:
            raise TypeError(f"Thresholds.from_config got unknown override(s) {unknown}")
        merged = {**(config or {}), **{keys[k]: v for k, v in overrides.items() if v is not None}}
        return parse_section(cls, "monitoring", stack, merged, MonitoringConfigError)


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
    if quality_decay and thresholds.retrain.on_quality_decay:
        return True, "live model quality fell below the registered metrics"
    if drift and thresholds.retrain.on_drift:
        return True, "drift detected in the monitored window"
    if drift or quality_decay:
        return False, "the monitoring policy does not retrain on this finding (mlops:monitoring.retrain)"
    return False, "healthy: nothing to retrain"
