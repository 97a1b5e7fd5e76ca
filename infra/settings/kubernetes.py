"""The `mlops:kubernetes` section, read when `mlops:target` is `kubernetes`.

    mlops:kubernetes:
      cluster           local | external (default). `local` is the embedded default: the single-node
                        cluster of `mlops cluster up` on this machine; it fills in LOCAL_DEFAULTS below
                        (the one place the local cluster's specifics live), keys the stack sets win.
      namespace         platform namespace (registry, tracking, serving); default mlops-<stack>
      kubeconfig        a kubeconfig path; empty = `kubernetes:kubeconfig` of the stack, else the
                        operator's default (never recorded in provider state)
      context           kubeconfig context; empty = the current one
      requestFraction   requests = limits x this (1 = Guaranteed QoS; below 1 packs small nodes)
      volumePermissions chown each data volume to its non-root user in an init container (for
                        provisioners, like host-path, that ignore fsGroup)
      storageClass      PVC storage class; empty = the cluster default
      imagePullPolicy   IfNotPresent | Always
      images:           {registry, postgres: an image reference to run instead of building ours;
                         pullSecret: a dockerconfigjson Secret for them; nodeImport: a containerd socket
                         into which the registry's own image is imported (it cannot come from itself)}
      registry:         {mode: in-cluster | external, address, pushAddress, nodePort, storageGi}
      artifacts:        {bucket (required), prefix, endpoint, region, createBucket}
      tracking:         {replicas, database: in-cluster | external, storageGi, postgresStorageGi, port,
                         nodePort (0 = ClusterIP only; else also on every node's address),
                         allowFromNamespaces: [namespaces besides the platform's that may reach MLflow]}
      training:         {namespace, quota: {cpu, memoryGi, pods, jobs}, and of each Job `mlops train` runs:
                         backoffLimit (retries of a failed pod), activeDeadlineSeconds (the Job's whole
                         run), ttlSecondsAfterFinished (how long a finished Job stays for inspection)}
      serving:          {port, publicUrl, nodePort, autoscaling: {enabled, maxReplicas, cpuUtilization},
                         disruptionBudget: {maxUnavailable}, predictionLogPrefix}

Defaults that depend on other keys (namespaces, the in-cluster registry address, the autoscaler's
maximum) are filled in by `infra.settings.stack.derived_defaults` before validation. The S3 credentials
and an external database URL are secrets (`infra.settings.secrets`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

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
ClusterKind = Literal["local", "external"]
CLUSTER_KINDS: tuple[ClusterKind, ...] = ("local", "external")

LOCAL_STATE_DIR = "/var/lib/mlops-cluster"
LOCAL_RUN_DIR = "/run/mlops-cluster"
# `mlops cluster up` runs moto's S3 server here (the pod bridge's gateway: pods and this machine reach
# it, nothing else does); see mlops/cluster/daemons.py.
LOCAL_S3_ENDPOINT = "http://10.244.0.1:9000"
LOCAL_DEFAULTS: dict[str, object] = {
    "kubeconfig": f"{LOCAL_STATE_DIR}/admin.kubeconfig",
    # dev, staging and prod share one 2-core node: pods request a twentieth of their limits (all three up,
    # idle: about 1.2 cores requested with CoreDNS; measured 0.7 with dev and staging at a tenth).
    "requestFraction": 0.05,
    # The local cluster's host-path provisioner makes root-owned 0750 directories and ignores fsGroup.
    "volumePermissions": True,
    "images": {"nodeImport": f"{LOCAL_RUN_DIR}/containerd.sock"},
    "artifacts": {"endpoint": LOCAL_S3_ENDPOINT, "createBucket": True},
}
"""What `cluster: local` means; a key the stack sets itself wins."""


class RegistrySettings(Section):
    mode: RegistryMode = choice("in-cluster", REGISTRY_MODES)
    address: str = text(None, REGISTRY, "a registry host[:port][/path] (required when mode is external)")
    """Where kubelets pull from (external: the registry; in-cluster: 127.0.0.1:<nodePort> on every node)."""
    push_address: str = text(None, REGISTRY, "a registry host[:port][/path]")
    """Where this machine pushes images to (default: `address`)."""
    node_port: int = integer(30500, *NODE_PORTS)
    storage_gi: int = integer(20, 1, 10000)


class ImageSettings(Section):
    registry: str = text("", r"^\S*$", "an image reference, or empty to build ours")
    postgres: str = text("", r"^\S*$", "an image reference, or empty to build ours")
    pull_secret: str = text("", f"^$|{DNS_LABEL}", "a Secret name, or empty")
    node_import: str = text("", r"^(/\S+)?$", "an absolute containerd socket path, or empty")


class ArtifactSettings(Section):
    bucket: str = text(None, BUCKET, "an S3 bucket name")
    prefix: str = text("mlflow", PREFIX, PREFIX_HELP)
    endpoint: str = text("https://s3.amazonaws.com", URL, "an http(s) URL of an S3-compatible endpoint")
    region: str = text("us-east-1", r"^[a-z0-9-]+$", "a region name")
    create_bucket: bool = flag(False)
    """Create the bucket if it is missing (a throwaway S3 endpoint such as the local cluster's)."""

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
    node_port: int = Field(default=0, strict=True, ge=0, le=NODE_PORTS[1], description="0 or a node port")
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
    backoff_limit: int = integer(0, 0, 10)
    """Retries of a failed training pod (per trial of a search): 0, since a training that crashed on its data
    or config crashes again; an evicted pod is retried whatever this says."""
    active_deadline_seconds: int = integer(3600, 60, 7 * 86400)
    ttl_seconds_after_finished: int = integer(3600, 0, 7 * 86400)
    """`mlops train` deletes the Jobs it ran; this only bounds one it could not (the operator's machine died)."""


class AutoscalingSettings(Section):
    enabled: bool = flag(False)
    max_replicas: int = integer(1, 1, 256)
    cpu_utilization: int = integer(70, 10, 100)


class DisruptionBudgetSettings(Section):
    max_unavailable: int = integer(1, 1, 256)


class ServingSettings(Section):
    port: int = port(8080)
    node_port: int = Field(default=0, strict=True, ge=0, le=NODE_PORTS[1], description="0 or a node port")
    public_url: str = text("", f"^$|{URL}", "an http(s) URL or empty")
    autoscaling: AutoscalingSettings = AutoscalingSettings()
    disruption_budget: DisruptionBudgetSettings = DisruptionBudgetSettings()
    prediction_log_prefix: str = text("predictions", PREFIX, PREFIX_HELP)

    @property
    def max_unavailable(self) -> int:
        return self.disruption_budget.max_unavailable


def _merge(defaults: dict[str, object], given: dict[str, object]) -> dict[str, object]:
    merged = dict(defaults)
    for key, value in given.items():
        base = merged.get(key)
        merged[key] = _merge(base, value) if isinstance(base, dict) and isinstance(value, dict) else value
    return merged


class KubernetesSettings(Section):
    cluster: ClusterKind = choice("external", CLUSTER_KINDS)
    namespace: str = text(None, DNS_LABEL, NAMESPACE_HELP)
    kubeconfig: str = text("", r"^\S*$", "a kubeconfig path, or empty")
    context: str = text("", r"^\S*$", "a kubeconfig context name, or empty for the current")
    storage_class: str = text("", STORAGE_CLASS, "a storage class name, or empty for the default")
    image_pull_policy: PullPolicy = choice("IfNotPresent", PULL_POLICIES)
    request_fraction: float = number(1.0, 0.01, 1.0)
    volume_permissions: bool = flag(False)
    images: ImageSettings = ImageSettings()
    registry: RegistrySettings
    artifacts: ArtifactSettings
    tracking: TrackingSettings = TrackingSettings()
    training: TrainingSettings
    serving: ServingSettings = ServingSettings()

    @model_validator(mode="before")
    @classmethod
    def _local_cluster(cls, data: object) -> object:
        """`cluster: local` fills in LOCAL_DEFAULTS under whatever the stack sets."""
        if not (isinstance(data, dict) and data.get("cluster") == "local"):
            return data
        merged = _merge(LOCAL_DEFAULTS, data)
        serving = merged.get("serving")
        # A NodePort of the local cluster answers on this machine's loopback (kube-proxy's route_localnet).
        if isinstance(serving, dict) and isinstance(serving.get("nodePort"), int) and serving["nodePort"]:
            serving = merged["serving"] = dict(serving)
            serving.setdefault("publicUrl", f"http://127.0.0.1:{serving['nodePort']}")
        return merged

    @property
    def prediction_log_uri(self) -> str:
        return f"s3://{self.artifacts.bucket}/{self.serving.prediction_log_prefix}"
