"""Kubernetes-specific settings: the `mlops:kubernetes` section, validated into frozen dataclasses.

`infra.settings` reads the stack config and calls `parse(stack, raw, secrets)` when `mlops:target` is
`kubernetes`; this module never touches `pulumi.Config`. `raw` maps config keys (without the `mlops:`
namespace) to plain values; `secrets` maps the keys of `SECRET_KEYS` that are set to Pulumi secrets.

    mlops:kubernetes:
      namespace         platform namespace (registry, tracking, serving); default mlops-<stack>
      context           kubeconfig context; empty = the current one
      storageClass      PVC storage class; empty = the cluster default
      imagePullPolicy   IfNotPresent | Always
      registry:         {mode: in-cluster | external, address, pushAddress, nodePort, storageGi}
      artifacts:        {bucket (required), prefix, endpoint, region}
      tracking:         {replicas, database: in-cluster | external, storageGi, postgresStorageGi, port,
                         allowFromNamespaces: [namespaces besides the platform's that may reach MLflow]}
      training:         {namespace, quota: {cpu, memoryGi, pods, jobs}}
      serving:          {port, publicUrl, autoscaling: {enabled, maxReplicas, cpuUtilization},
                         disruptionBudget: {maxUnavailable}, predictionLogPrefix}

Secrets a team sets once per stack (`pulumi config set --secret mlops:<key> VALUE --stack <stack>`):

    artifactsAccessKeyId, artifactsSecretAccessKey   S3 credentials of the artifact bucket (always)
    trackingDatabaseUrl                              postgresql://... when tracking.database is external
    registryPassword, postgresPassword               read by infra.settings (registry, in-cluster Postgres)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.settings import SettingsError

SECRET_KEYS = ("artifactsAccessKeyId", "artifactsSecretAccessKey", "trackingDatabaseUrl")
REGISTRY_MODES = ("in-cluster", "external")
DATABASES = ("in-cluster", "external")
PULL_POLICIES = ("IfNotPresent", "Always")

# RFC 1123 labels: what Kubernetes accepts as a namespace name.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^([A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*)?$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_REGISTRY = re.compile(r"^[a-z0-9][a-z0-9.-]*(:[0-9]{1,5})?(/[a-z0-9][a-z0-9._/-]*)?$")
_STORAGE_CLASS = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$")


@dataclass(frozen=True)
class RegistrySettings:
    mode: str
    address: str
    """Where kubelets pull from (external: the registry; in-cluster: 127.0.0.1:<nodePort> on every node)."""
    push_address: str
    """Where this machine pushes images to."""
    node_port: int
    storage_gi: int


@dataclass(frozen=True)
class ArtifactSettings:
    bucket: str
    prefix: str
    endpoint: str
    region: str
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True)
class TrackingSettings:
    replicas: int
    database: str
    """Where the postgres backend runs: a StatefulSet of ours, or an external server (`trackingDatabaseUrl`)."""
    storage_gi: int
    """The SQLite backend's PVC."""
    postgres_storage_gi: int
    port: int
    database_url: pulumi.Output[str] | None
    allow_from_namespaces: tuple[str, ...]


@dataclass(frozen=True)
class QuotaSettings:
    cpu: float
    memory_gi: int
    pods: int
    jobs: int


@dataclass(frozen=True)
class TrainingSettings:
    namespace: str
    quota: QuotaSettings


@dataclass(frozen=True)
class AutoscalingSettings:
    enabled: bool
    max_replicas: int
    cpu_utilization: int


@dataclass(frozen=True)
class ServingSettings:
    port: int
    public_url: str
    autoscaling: AutoscalingSettings
    max_unavailable: int
    prediction_log_prefix: str


@dataclass(frozen=True)
class KubernetesSettings:
    namespace: str
    context: str
    storage_class: str
    image_pull_policy: str
    registry: RegistrySettings
    artifacts: ArtifactSettings
    tracking: TrackingSettings
    training: TrainingSettings
    serving: ServingSettings

    @property
    def prediction_log_uri(self) -> str:
        return f"s3://{self.artifacts.bucket}/{self.serving.prediction_log_prefix}"


class _Section:
    """Typed reads of one object of config that report errors against its full key."""

    def __init__(self, stack: str, key: str, raw: Any) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise SettingsError(stack, key, f"is {type(raw).__name__}", "an object of settings")
        self.stack, self.key, self.raw = stack, key, dict(raw)

    def full(self, name: str) -> str:
        return f"{self.key}.{name}"

    def _bad(self, name: str, value: Any, allowed: str) -> SettingsError:
        return SettingsError(self.stack, self.full(name), f"= {value!r} is not allowed", allowed)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._bad(name, value, f"an integer from {low} to {high}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self._bad(name, value, f"a number from {low} to {high}")
        return float(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise self._bad(name, value, "true | false")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.raw.get(name, default)
        if value not in allowed:
            raise self._bad(name, value, " | ".join(allowed))
        return str(value)

    def text(self, name: str, default: str | None, pattern: re.Pattern[str], allowed: str) -> str:
        value = self.raw.get(name, default)
        if value is None:
            raise SettingsError(self.stack, self.full(name), "is required but not set", allowed)
        if not isinstance(value, str) or not pattern.match(value):
            raise self._bad(name, value, allowed)
        return value

    def names(self, name: str, pattern: re.Pattern[str], allowed: str) -> tuple[str, ...]:
        value = self.raw.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and pattern.match(v) for v in value):
            raise self._bad(name, value, allowed)
        return tuple(value)

    def section(self, name: str) -> _Section:
        return _Section(self.stack, self.full(name), self.raw.get(name))


def _secret(stack: str, secrets: Mapping[str, pulumi.Output[str] | None], key: str, why: str) -> pulumi.Output[str]:
    value = secrets.get(key)
    if value is None:
        raise SettingsError(
            stack,
            key,
            f"is required ({why}) but not set",
            f"a secret: pulumi config set --secret mlops:{key} VALUE --stack {stack}",
        )
    return value


def parse(
    stack: str,
    raw: Mapping[str, Any],
    secrets: Mapping[str, pulumi.Output[str] | None] | None = None,
) -> KubernetesSettings:
    """Validate the kubernetes parts of a stack's config."""
    secrets = secrets or {}
    k8s = _Section(stack, "kubernetes", raw.get("kubernetes"))
    namespace = k8s.text("namespace", f"mlops-{stack}", _DNS_LABEL, "a namespace name (RFC 1123 label)")

    reg = k8s.section("registry")
    mode = reg.choice("mode", "in-cluster", REGISTRY_MODES)
    node_port = reg.integer("nodePort", 30500, 30000, 32767)
    in_cluster_address = f"127.0.0.1:{node_port}"
    address = reg.text(
        "address",
        None if mode == "external" else in_cluster_address,
        _REGISTRY,
        "a registry host[:port][/path] (required when mode is external)",
    )
    registry = RegistrySettings(
        mode=mode,
        address=address,
        push_address=reg.text("pushAddress", address, _REGISTRY, "a registry host[:port][/path]"),
        node_port=node_port,
        storage_gi=reg.integer("storageGi", 20, 1, 10000),
    )

    art = k8s.section("artifacts")
    artifacts = ArtifactSettings(
        bucket=art.text("bucket", None, _BUCKET, "an S3 bucket name"),
        prefix=art.text("prefix", "mlflow", _PREFIX, "an S3 key prefix without leading or trailing '/'"),
        endpoint=art.text("endpoint", "https://s3.amazonaws.com", _URL, "an http(s) URL of an S3-compatible endpoint"),
        region=art.text("region", "us-east-1", re.compile(r"^[a-z0-9-]+$"), "a region name"),
        access_key_id=_secret(stack, secrets, "artifactsAccessKeyId", "S3 credentials of the artifact store"),
        secret_access_key=_secret(stack, secrets, "artifactsSecretAccessKey", "S3 credentials of the artifact store"),
    )

    backend = _Section(stack, "tracking", raw.get("tracking")).raw.get("backend", "sqlite")
    trk = k8s.section("tracking")
    database = trk.choice("database", "in-cluster", DATABASES)
    replicas = trk.integer("replicas", 1, 1, 16)
    if backend == "sqlite" and replicas != 1:
        raise SettingsError(
            stack,
            trk.full("replicas"),
            f"= {replicas} is not allowed with tracking.backend sqlite",
            "1 (one writer on the SQLite volume), or mlops:tracking.backend: postgres",
        )
    external_db = backend == "postgres" and database == "external"
    tracking = TrackingSettings(
        replicas=replicas,
        database=database,
        storage_gi=trk.integer("storageGi", 5, 1, 10000),
        postgres_storage_gi=trk.integer("postgresStorageGi", 10, 1, 10000),
        port=trk.integer("port", 5000, 1024, 65535),
        allow_from_namespaces=trk.names("allowFromNamespaces", _DNS_LABEL, "a list of namespace names"),
        database_url=_secret(stack, secrets, "trackingDatabaseUrl", "the tracking database is external")
        if external_db
        else None,
    )

    trn = k8s.section("training")
    quota = trn.section("quota")
    training = TrainingSettings(
        namespace=trn.text("namespace", f"{namespace}-training", _DNS_LABEL, "a namespace name (RFC 1123 label)"),
        quota=QuotaSettings(
            cpu=quota.number("cpu", 4.0, 0.5, 4096.0),
            memory_gi=quota.integer("memoryGi", 16, 1, 65536),
            pods=quota.integer("pods", 10, 1, 10000),
            jobs=quota.integer("jobs", 10, 1, 10000),
        ),
    )
    if training.namespace == namespace:
        raise SettingsError(
            stack,
            trn.full("namespace"),
            f"= {namespace!r} is the platform namespace",
            "a namespace of its own, so the quota bounds training jobs only",
        )

    srv = k8s.section("serving")
    scaling = srv.section("autoscaling")
    # infra.settings validates serving.replicas itself; here it only bounds the autoscaler.
    serving_replicas = _Section(stack, "serving", raw.get("serving")).raw.get("replicas", 1)
    if isinstance(serving_replicas, bool) or not isinstance(serving_replicas, int) or serving_replicas < 1:
        serving_replicas = 1
    enabled = scaling.flag("enabled", False)
    max_replicas = scaling.integer("maxReplicas", serving_replicas, 1, 256)
    if enabled and max_replicas < serving_replicas:
        raise SettingsError(
            stack,
            scaling.full("maxReplicas"),
            f"= {max_replicas} is below mlops:serving.replicas ({serving_replicas})",
            f"an integer from {serving_replicas} to 256",
        )
    serving = ServingSettings(
        port=srv.integer("port", 8080, 1024, 65535),
        public_url=srv.text("publicUrl", "", re.compile(rf"^$|{_URL.pattern}"), "an http(s) URL or empty"),
        autoscaling=AutoscalingSettings(
            enabled=enabled,
            max_replicas=max_replicas,
            cpu_utilization=scaling.integer("cpuUtilization", 70, 10, 100),
        ),
        max_unavailable=srv.section("disruptionBudget").integer("maxUnavailable", 1, 1, 256),
        prediction_log_prefix=srv.text(
            "predictionLogPrefix", "predictions", _PREFIX, "an S3 key prefix without leading or trailing '/'"
        ),
    )

    return KubernetesSettings(
        namespace=namespace,
        context=k8s.text("context", "", re.compile(r"^\S*$"), "a kubeconfig context name, or empty for the current"),
        storage_class=k8s.text("storageClass", "", _STORAGE_CLASS, "a storage class name, or empty for the default"),
        image_pull_policy=k8s.choice("imagePullPolicy", "IfNotPresent", PULL_POLICIES),
        registry=registry,
        artifacts=artifacts,
        tracking=tracking,
        training=training,
        serving=serving,
    )
