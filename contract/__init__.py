"""The names `infra`, `ml` and the operator side (`mlops`) share, each defined once.

Standard library only: this module goes into every image and is imported by the Pulumi program, so it
must load anywhere. Anything written on one side and read on another belongs here: docker labels, stack
output names, the `models:/` grammar, the model server's environment variables, registry aliases and the
tags every registered version carries.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# --- the Pulumi config namespace and the per-user data directory ---------------------------------------

CONFIG_NAMESPACE = "mlops"


def data_dir() -> Path:
    """Per-user data of the platform (state backend, prediction logs): never inside the repository."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mlops-platform"


# --- docker labels on every object of a stack -----------------------------------------------------------

LABEL_STACK = "mlops.stack"
LABEL_PROJECT = "mlops.project"
LABEL_ROLE = "mlops.role"


def stack_labels(project: str, stack: str) -> dict[str, str]:
    """The labels every docker object of one stack carries."""
    return {LABEL_STACK: stack, LABEL_PROJECT: project}


def label_filters(stack: str, project: str | None = None) -> dict[str, list[str]]:
    """A docker API `filters` value matching the objects of one stack (of one project, when given)."""
    labels = [f"{LABEL_STACK}={stack}"]
    return {"label": labels if project is None else [f"{LABEL_PROJECT}={project}", *labels]}


# --- stack outputs: what the Pulumi program exports and the operator side reads ------------------------


class Outputs:
    """Names of the stack outputs of every environment."""

    TARGET = "target"
    TRACKING_URI = "tracking_uri"
    TRACKING_URI_INTERNAL = "tracking_uri_internal"
    REGISTRY_ADDRESS = "registry_address"
    REGISTRY_CREDENTIALS = "registry_credentials"
    SERVING_ENDPOINT = "serving_endpoint"
    SERVING_MODEL_URI = "serving_model_uri"
    """The reference the stack asks for (`models:/NAME@ALIAS`, a pinned version, or empty)."""
    SERVED_MODEL_URI = "serving_model_version_uri"
    """The pinned `models:/NAME/VERSION` the serving cluster runs now (empty: nothing served)."""
    ARTIFACT_LOCATION = "artifact_location"
    PREDICTION_LOG_URI = "prediction_log_uri"
    IMAGES = "images"
    TRAINING = "training"
    TRACKING_CREDENTIALS = "tracking_credentials"
    """Secret `{username, password}` of the tracking server's basic auth, or `{}` when the stack runs none."""


DEPLOYED_MODEL_ENV = "MLOPS_DEPLOYED_MODEL"
"""Set by the operator for the Pulumi program of one stack: JSON `{"stack", "deployed", "served"}` read
from the stack's state before preview/up, so an unreachable tracking server keeps the served version
(`infra.model_ref`)."""

BASE_IMAGES_ENV = "MLOPS_BASE_IMAGES"
"""Set by the operator for the Pulumi program of one stack: JSON `{NAME: {"identity", "id"}}`, the base images
the stack's images were last built FROM, read from its state. `infra.images.base` uses it only where
the bootstrap's record of the base is missing (a CI runner previewing without an engine), so such a preview
plans the tags the last deploy made."""

TRACKING_CREDENTIALS_ENV = "MLOPS_TRACKING_CREDENTIALS"
"""Set by the operator, in its own process only, while the Pulumi program of one stack runs: JSON
`{"stack", "username", "password"}` read from the stack's secret outputs, so the program's model lookup can
authenticate (`infra.model_ref`). Never handed to a container."""

# --- the tracking server's credentials inside a container ----------------------------------------------------

TRACKING_USERNAME_ENV = "MLOPS_TRACKING_USERNAME"
"""The basic-auth user a workload (model server, training job) or the tracking server's admin is."""
TRACKING_PASSWORD_FILE_ENV = "MLOPS_TRACKING_PASSWORD_FILE"
"""The path of a file (mode 0400, a docker secret file or a mounted Kubernetes Secret) holding that user's
password: a file, never an environment variable or an argument, which `docker inspect` and `ps` show."""
TRACKING_PASSWORD_FILE = "tracking-password"
"""The file name of that password in a container's secrets directory."""


# --- the `models:/` grammar ------------------------------------------------------------------------------

MODEL_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
ALIAS_PATTERN = r"[A-Za-z0-9_-]+"
MODEL_URI = re.compile(rf"^models:/(?P<name>{MODEL_NAME_PATTERN})(?:@(?P<alias>{ALIAS_PATTERN})|/(?P<version>[0-9]+))$")
MODEL_URI_HELP = "models:/NAME@ALIAS or models:/NAME/VERSION (for example models:/breast-cancer@champion)"


@dataclass(frozen=True)
class ModelRef:
    """A registry model reference: a name and either an alias or a version."""

    name: str
    version: str | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelRef:
        match = MODEL_URI.match(uri.strip())
        if match is None:
            raise ValueError(f"{uri!r} is not a registry model reference: expected {MODEL_URI_HELP}")
        return cls(match["name"], match["version"], match["alias"])

    @classmethod
    def pinned(cls, name: str, version: str | int) -> ModelRef:
        return cls(name, str(version), None)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"

    def __str__(self) -> str:
        return self.uri


# --- where training runs ------------------------------------------------------------------------------------

TrainingWhere = Literal["local", "cluster"]
TRAINING_WHERE: tuple[TrainingWhere, ...] = ("local", "cluster")
"""`mlops:training.where` and `mlops train --where`: the operator's process, or a job on the training cluster."""

# --- registry aliases and the tags of a registered version ------------------------------------------------

CHAMPION = "champion"
CHALLENGER = "challenger"

TAG_GATES = "gates"
TAG_GATES_PASSED = "gates.passed"
VERSION_TAGS = (
    "data.uri",
    "data.sha256",
    "data.rows",
    "data.schema",
    "git.commit",
    "git.dirty",
    "seed",
    "task",
    "target",
    TAG_GATES,
    TAG_GATES_PASSED,
)
"""The tags every registered version carries about its data, code and checks (docs/architecture.md)."""

TAG_PROMOTION_ID = "promotion.id"
TAG_PROMOTION_GATES = "promotion.gates"
TAG_PROMOTION_APPROVED_BY = "promotion.approved_by"
TAG_LINEAGE_SOURCE_ENV = "lineage.source_env"
TAG_LINEAGE_SOURCE_TRACKING_URI = "lineage.source_tracking_uri"
TAG_LINEAGE_SOURCE_RUN_ID = "lineage.source_run_id"
TAG_LINEAGE_SOURCE_VERSION = "lineage.source_version"
TAG_ARTIFACT_SHA256 = "artifact.sha256"
"""SHA-256 of a version's model files, recorded at registration and checked before every load (ml.artifact_hash)."""

TriggerKind = Literal["drift", "quality"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = ("drift", "quality")
TAG_TRIGGER_KIND = "trigger.kind"
"""Why a retrain ran: `drift` (features or predictions moved) or `quality` (live metrics decayed)."""
TAG_TRIGGER_MONITORING_RUN_ID = "trigger.monitoring_run_id"
"""The run of the `monitoring` experiment that asked for the retrain."""
TAG_TRIGGER_DRIFTED_FEATURES = "trigger.drifted_features"
"""The drifted features of that monitoring run, comma-separated."""
TAG_TRIGGER_WINDOW = "trigger.window"
"""The monitored window, `START/END` in ISO-8601."""
TRIGGER_TAGS = (TAG_TRIGGER_KIND, TAG_TRIGGER_MONITORING_RUN_ID, TAG_TRIGGER_DRIFTED_FEATURES, TAG_TRIGGER_WINDOW)
"""The lineage of a version retrained by `mlops monitor --retrain`: what triggered it."""

# --- the model server's environment variables (docs/architecture.md) ---------------------------------------

SERVER_ENV: dict[str, str] = {
    "tracking_uri": "MLFLOW_TRACKING_URI",
    "model_uri": "MLOPS_MODEL_URI",
    "port": "MLOPS_PORT",
    "host": "MLOPS_HOST",
    "workers": "MLOPS_WORKERS",
    "model_cache": "MLOPS_MODEL_CACHE",
    "prediction_log": "MLOPS_PREDICTION_LOG",
    "prediction_log_format": "MLOPS_PREDICTION_LOG_FORMAT",
    "prediction_log_sample": "MLOPS_PREDICTION_LOG_SAMPLE",
    "extra_columns": "MLOPS_EXTRA_COLUMNS",
    "max_rows": "MLOPS_MAX_ROWS",
    "max_body_bytes": "MLOPS_MAX_BODY_BYTES",
    "fast_path": "MLOPS_FAST_PATH",
    "access_log": "MLOPS_ACCESS_LOG",
    "header_timeout": "MLOPS_HEADER_TIMEOUT",
    "body_timeout": "MLOPS_BODY_TIMEOUT",
    "keep_alive": "MLOPS_KEEP_ALIVE",
    "limit_concurrency": "MLOPS_LIMIT_CONCURRENCY",
    "prediction_log_max_rows": "MLOPS_PREDICTION_LOG_MAX_ROWS",
    "prediction_log_max_bytes": "MLOPS_PREDICTION_LOG_MAX_BYTES",
}
"""Setting name -> environment variable of the model server (`python -m ml.serve`)."""
MODEL_URI_ENV = SERVER_ENV["model_uri"]
