"""The `mlops:kubernetes` section, read when `mlops:target` is `kubernetes`.

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

Defaults that depend on other keys (namespaces, the in-cluster registry address, the autoscaler's
maximum) are filled in by `infra.settings.stack.derived_defaults` before validation. The S3 credentials
and an external database URL are secrets (`infra.settings.secrets`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from infra.settings.fields import Section, choice, flag, integer, number, port, text

RegistryMode = Literal["in-cluster", "external"]
REGISTRY_MODES: tuple[RegistryMode, ...] = ("in-cluster", "external")
Database = Literal["in-cluster", "external"]
DATABASES: tuple[Database, ...] = ("in-cluster", "external")
PullPolicy = Literal["IfNotPresent", "Always"]
PULL_POLICIES: tuple[PullPolicy, ...] = ("IfNotPresent", "Always")

# RFC 1123 labels: what Kubernetes accepts as a namespace name.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
NAMESPACE_HELP = "a namespace name (RFC 1123 label)"
BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
PREFIX = r"^([A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*)?$"
PREFIX_HELP = "an S3 key prefix without leading or trailing '/'"
URL = r"^https?://[^\s/]+(/\S*)?$"
REGISTRY = r"^[a-z0-9][a-z0-9.-]*(:[0-9]{1,5})?(/[a-z0-9][a-z0-9._/-]*)?$"
STORAGE_CLASS = r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$"
NODE_PORTS = (30000, 32767)


class RegistrySettings(Section):
    mode: RegistryMode = choice("in-cluster", REGISTRY_MODES)
    address: str = text(None, REGISTRY, "a registry host[:port][/path] (required when mode is external)")
    """Where kubelets pull from (external: the registry; in-cluster: 127.0.0.1:<nodePort> on every node)."""
    push_address: str = text(None, REGISTRY, "a registry host[:port][/path]")
    """Where this machine pushes images to (default: `address`)."""
    node_port: int = integer(30500, *NODE_PORTS)
    storage_gi: int = integer(20, 1, 10000)


class ArtifactSettings(Section):
    bucket: str = text(None, BUCKET, "an S3 bucket name")
    prefix: str = text("mlflow", PREFIX, PREFIX_HELP)
    endpoint: str = text("https://s3.amazonaws.com", URL, "an http(s) URL of an S3-compatible endpoint")
    region: str = text("us-east-1", r"^[a-z0-9-]+$", "a region name")

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


class TrackingSettings(Section):
    replicas: int = integer(1, 1, 16)
    database: Database = choice("in-cluster", DATABASES)
    """Where the postgres backend runs: a StatefulSet of ours, or an external server (`trackingDatabaseUrl`)."""
    storage_gi: int = integer(5, 1, 10000)
    """The SQLite backend's PVC."""
    postgres_storage_gi: int = integer(10, 1, 10000)
    port: int = port(5000)
    allow_from_namespaces: tuple[Annotated[str, StringConstraints(pattern=DNS_LABEL)], ...] = Field(
        default=(), strict=False, description="a list of namespace names (RFC 1123 labels)"
    )

    @property
    def external_database(self) -> bool:
        return self.database == "external"


class QuotaSettings(Section):
    cpu: float = number(4.0, 0.5, 4096.0)
    memory_gi: int = integer(16, 1, 65536)
    pods: int = integer(10, 1, 10000)
    jobs: int = integer(10, 1, 10000)


class TrainingSettings(Section):
    namespace: str = text(None, DNS_LABEL, NAMESPACE_HELP)
    quota: QuotaSettings = QuotaSettings()


class AutoscalingSettings(Section):
    enabled: bool = flag(False)
    max_replicas: int = integer(1, 1, 256)
    cpu_utilization: int = integer(70, 10, 100)


class DisruptionBudgetSettings(Section):
    max_unavailable: int = integer(1, 1, 256)


class ServingSettings(Section):
    port: int = port(8080)
    public_url: str = text("", f"^$|{URL}", "an http(s) URL or empty")
    autoscaling: AutoscalingSettings = AutoscalingSettings()
    disruption_budget: DisruptionBudgetSettings = DisruptionBudgetSettings()
    prediction_log_prefix: str = text("predictions", PREFIX, PREFIX_HELP)

    @property
    def max_unavailable(self) -> int:
        return self.disruption_budget.max_unavailable


class KubernetesSettings(Section):
    namespace: str = text(None, DNS_LABEL, NAMESPACE_HELP)
    context: str = text("", r"^\S*$", "a kubeconfig context name, or empty for the current")
    storage_class: str = text("", STORAGE_CLASS, "a storage class name, or empty for the default")
    image_pull_policy: PullPolicy = choice("IfNotPresent", PULL_POLICIES)
    registry: RegistrySettings
    artifacts: ArtifactSettings
    tracking: TrackingSettings = TrackingSettings()
    training: TrainingSettings
    serving: ServingSettings = ServingSettings()

    @property
    def prediction_log_uri(self) -> str:
        return f"s3://{self.artifacts.bucket}/{self.serving.prediction_log_prefix}"
