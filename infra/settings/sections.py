"""The component sections every target reads: `mlops:registry`, `tracking`, `artifacts`, `training`,
`serving` and `images` (defaults are the `local` stack's embedded defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from contract import MODEL_URI, MODEL_URI_HELP, TRAINING_WHERE, TrainingWhere, cron
from infra.settings.fields import (
    HTTP_URL_OR_EMPTY,
    NAME,
    NAME_HELP,
    Limits,
    Section,
    choice,
    flag,
    integer,
    number,
    port,
    text,
)

Target = Literal["docker", "kubernetes"]
TARGETS: tuple[Target, ...] = ("docker", "kubernetes")
Backend = Literal["sqlite", "postgres"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgres")
LogFormat = Literal["jsonl", "parquet"]
LOG_FORMATS: tuple[LogFormat, ...] = ("jsonl", "parquet")
Where = TrainingWhere
WHERES = TRAINING_WHERE
ExtraColumns = Literal["reject", "ignore"]
EXTRA_COLUMNS: tuple[ExtraColumns, ...] = ("reject", "ignore")

CPUS = (0.1, 64.0)
MEMORY_MB = (64, 262144)


class RegistrySettings(Section):
    port: int = port(5501)
    username: str = text("mlops", NAME, NAME_HELP)


class TrackingSettings(Section):
    port: int = port(5500)
    backend: Backend = choice("sqlite", BACKENDS)
    cpus: float = number(1.0, *CPUS)
    memory_mb: int = integer(2048, *MEMORY_MB)
    workers: int = integer(1, 1, 32)
    ready_timeout_seconds: int = integer(600, 10, 3600)
    """How long a new tracking container may take to answer /health (a fresh store runs migrations)."""
    public_url: str = text("", HTTP_URL_OR_EMPTY, "an http(s) URL or empty")
    """URL at which this program (on the operator's machine) reaches the tracking server; the docker
    target defaults it to the loopback port (`infra.settings.stack.derived_defaults`)."""
    auth: bool = flag(True)
    """MLflow's basic-auth app with an admin user whose password is a Pulumi secret (`mlops:trackingPassword`,
    or generated into state). On unless a stack turns it off (`local` does: loopback only, public passphrase);
    the policy pack refuses a production stack with it off."""

    @property
    def limits(self) -> Limits:
        return Limits(cpus=self.cpus, memory_mb=self.memory_mb)


class ArtifactSettings(Section):
    volume: str = text("mlops-artifacts", NAME, f"a docker volume name ({NAME_HELP})")


class TrainingSettings(Section):
    cpus: float = number(2.0, *CPUS)
    memory_mb: int = integer(4096, *MEMORY_MB)
    where: Where = choice("local", WHERES)
    """Where `mlops train --env` trains by default: a job on the training cluster, or the operator's process
    (`--where` overrides). Read by the operator side (`mlops.jobs`); here so the key is validated."""

    @property
    def limits(self) -> Limits:
        return Limits(cpus=self.cpus, memory_mb=self.memory_mb)


class PredictionLogSettings(Section):
    dir: Path = Field(description="an absolute path", strict=False)
    format: LogFormat = choice("jsonl", LOG_FORMATS)
    sample: float = number(1.0, 0.0, 1.0)

    @field_validator("dir", mode="before")
    @classmethod
    def _absolute(cls, value: object) -> object:
        if not isinstance(value, str) or not Path(value).is_absolute():
            raise ValueError("not an absolute path")
        return value


class ServingSettings(Section):
    model_uri: str = text("", f"^$|{MODEL_URI.pattern}", f"{MODEL_URI_HELP}, or empty: serve nothing")
    replicas: int = integer(1, 1, 64)
    port: int = port(5580)
    cpus: float = number(1.0, *CPUS)
    memory_mb: int = integer(1024, *MEMORY_MB)
    workers: int = integer(1, 1, 64)
    prediction_log: PredictionLogSettings
    extra_columns: ExtraColumns = choice("reject", EXTRA_COLUMNS)
    ready_timeout_seconds: int = integer(180, 5, 3600)
    require_model: bool = flag(False)
    """An unresolvable `modelUri` (missing, or the tracking server unreachable) fails preview and up instead
    of keeping the deployed version (`infra.model_ref`); on in production stacks."""

    @property
    def limits(self) -> Limits:
        return Limits(cpus=self.cpus, memory_mb=self.memory_mb)


class ImageSettings(Section):
    base: str = text("mlops-base:bookworm-py311", r"^[a-z0-9][a-z0-9._/:-]*$", "an image reference")


MONITOR_THRESHOLD_KEYS = (
    "psiThreshold",
    "ksPValue",
    "nullRateIncrease",
    "outOfSchemaRate",
    "qualityTolerance",
    "minRows",
)
"""The keys of `mlops:monitoring` a scheduled monitor judges with (`ml.monitor.thresholds.Thresholds`). Only these
travel to it: the section's other keys are the operator's (retrain, promotion requests, a webhook secret)."""
MONITOR_LOOP_KEYS = ("retrain", "labels", "promoteTo", "promotionRequest")
"""The closed loop's keys, which travel to the scheduled monitor too when the stack retrains from the schedule
(`retrain.trainConfig` set). The webhook secret never travels with them: it is a secret of the stack
(`infra.settings.secrets.WEBHOOK_SECRET_KEY`), which the kubernetes monitor mounts as a file."""


class MonitoringSettings(Section):
    """`mlops:monitoring`: the schedule is the program's (a CronJob or a scheduler container runs the monitor on
    it); the thresholds are `ml`'s, handed to the scheduled monitor as written (`infra.settings.stack` picks
    them out) and checked by `ml` where it reads them."""

    schedule: str = Field(default="", description=f"{cron.HELP}; absent: no scheduled monitoring")
    thresholds: dict[str, Any] = Field(default_factory=dict, strict=False, exclude=True)
    retrain_config: str = Field(default="", description="the path of the model's training config")
    """`retrain.trainConfig`: set, the scheduled monitor retrains as a Job (its files rendered by the program)."""

    @property
    def retrains(self) -> bool:
        return self.scheduled and bool(self.retrain_config)

    @property
    def scheduled(self) -> bool:
        return bool(self.schedule)

    @property
    def webhook_url(self) -> str:
        """Where the scheduled monitor announces its promotion requests ("" when it does not: it never retrains, or
        `promotionRequest.webhookUrl` is not set)."""
        request = self.thresholds.get("promotionRequest")
        return str(request.get("webhookUrl") or "") if self.retrains and isinstance(request, dict) else ""
