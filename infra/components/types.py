"""The arguments and outputs of every component, shared by the facades and the target implementations.

A facade (`infra.components.registry`, ...) owns the ComponentResource; an implementation
(`infra.components.<target>.<module>.create(component, args) -> outputs`) creates its children. Both
import these dataclasses from here, so neither imports the other to learn the shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.settings import Settings


@dataclass
class Foundation:
    """What every component of a target shares."""

    network: pulumi.Output[str] | None = None
    """docker: the user-defined network every container joins."""
    providers: Sequence[pulumi.ProviderResource] = field(default_factory=tuple)
    """Providers every component of the target uses (passed down through `ResourceOptions.providers`)."""


@dataclass
class ContainerRegistryArgs:
    settings: Settings
    password: pulumi.Input[str]
    """The registry password (a secret): from config, or generated for stacks that generate secrets."""
    network: pulumi.Input[str] | None = None
    """docker: the user-defined network the registry joins; kubernetes: unused."""


@dataclass
class ContainerRegistryOutputs:
    address: pulumi.Output[str]
    """host:port where images are pushed from this machine (docker: `127.0.0.1:<port>`)."""
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    """A Pulumi secret."""
    images: pulumi.Output[Mapping[str, str]]
    """role -> pushed, content-tagged image reference, for every pushed role of `infra.images.stack_specs`."""


@dataclass
class ArtifactStoreArgs:
    settings: Settings


@dataclass
class ArtifactStoreOutputs:
    location: pulumi.Output[str]
    """What clients see as the artifact root: `mlflow-artifacts:/` (docker) or `s3://bucket/prefix`."""
    destination: pulumi.Output[str]
    """What the tracking server passes to `--artifacts-destination`: a path inside its container
    (docker, where `volume` is mounted) or the `s3://` URI."""
    volume: pulumi.Output[str]
    """docker: the volume holding the artifacts; kubernetes: empty."""
    server_env: pulumi.Output[Mapping[str, str]]
    """Environment the tracking server needs to reach the store (S3 endpoint and credentials, as
    secrets); empty for docker."""


@dataclass
class TrackingCredentials:
    """The basic-auth login of the tracking server: its admin user, which the platform's workloads use."""

    username: str
    password: pulumi.Input[str]
    """A Pulumi secret; reaches containers as a file (`contract.TRACKING_PASSWORD_FILE`), never as env."""


@dataclass
class TrackingServerArgs:
    settings: Settings
    image: pulumi.Input[str]
    """The tracking image (`images["tracking"]` of the registry)."""
    artifacts: ArtifactStoreOutputs
    postgres_image: pulumi.Input[str] | None = None
    """Image of the Postgres backend when `settings.tracking.backend == "postgres"` and the target runs it."""
    postgres_password: pulumi.Input[str] | None = None
    """A secret; set when the backend is postgres."""
    network: pulumi.Input[str] | None = None
    """docker: the user-defined network; kubernetes: unused."""
    credentials: TrackingCredentials | None = None
    """Set when `settings.tracking.auth`: the server runs MLflow's basic-auth app with this admin."""


@dataclass
class TrackingServerOutputs:
    uri: pulumi.Output[str]
    """Where clients on this machine reach the server (docker: `http://127.0.0.1:<port>`)."""
    internal_uri: pulumi.Output[str]
    """Where the platform's own workloads reach it (container name or Service DNS)."""
    data_volume: pulumi.Output[str]
    """docker: the volume holding the SQLite store; kubernetes: the PVC name or empty."""


@dataclass
class TrainingClusterArgs:
    settings: Settings
    image: pulumi.Input[str]
    """The trainer image (`images["trainer"]`)."""
    tracking_uri: pulumi.Input[str]
    """The tracking server as jobs reach it (internal URI)."""
    network: pulumi.Input[str] | None = None
    """docker: the network jobs join; kubernetes: unused."""
    tracking_credentials: TrackingCredentials | None = None
    """kubernetes: the login jobs log to the tracking server with, as a Secret of the training namespace."""


@dataclass
class TrainingClusterOutputs:
    job_spec: pulumi.Output[Mapping[str, Any]]
    """What a job launcher needs, exported as the stack output `training`: at least `image`,
    `limits` ({cpus, memory_mb}) and `tracking_uri`; docker adds `network` and `labels`;
    kubernetes adds `namespace` and `service_account`."""


@dataclass
class ServingClusterArgs:
    settings: Settings
    image: pulumi.Input[str]
    """The model-server image (`images["server"]`)."""
    model_uri: str
    """The pinned `models:/NAME/VERSION` to serve, resolved by `infra.model_ref` at program start;
    empty when nothing resolved: then no replicas are created and the endpoint is empty."""
    tracking_uri: pulumi.Input[str]
    """The tracking server as replicas reach it (internal URI)."""
    tracking_credentials: TrackingCredentials | None = None
    """The login replicas download the model with, when the tracking server requires one."""
    balancer_image: pulumi.Input[str] | None = None
    """docker: the load balancer image (`images["balancer"]`); kubernetes: unused (a Service)."""
    network: pulumi.Input[str] | None = None
    """docker: the network; kubernetes: unused."""


@dataclass
class ServingClusterOutputs:
    endpoint: pulumi.Output[str]
    """Where clients on this machine send predictions (docker: `http://127.0.0.1:<port>`), or empty."""
    model_uri: pulumi.Output[str]
    """The pinned model URI the replicas serve, or empty."""
    prediction_log_uri: pulumi.Output[str]
    """`file://<host dir>` (docker) or `s3://bucket/prefix`."""


MONITOR_CPUS = 1.0
MONITOR_MEMORY_MB = 1024
"""Limits of a scheduled monitoring pass: it streams the prediction log one row group at a time (about 500 MB
at peak for a 10M-row window, README "Drift monitoring"), on one core."""


@dataclass
class MonitoringScheduleArgs:
    settings: Settings
    image: pulumi.Input[str]
    """The trainer image (`images["trainer"]`): it holds `ml`, whose `python -m ml.monitor` runs a pass."""
    model_uri: str
    """The pinned `models:/NAME/VERSION` the serving cluster serves (empty: nothing served, nothing scheduled)."""
    tracking_uri: pulumi.Input[str]
    """The tracking server as the platform's workloads reach it (internal URI)."""
    prediction_log_uri: pulumi.Input[str]
    """The serving cluster's prediction log: `file://<host dir>` (docker) or `s3://bucket/prefix`."""
    tracking_credentials: TrackingCredentials | None = None
    """The login the monitor reads the registry and logs its runs with, when the tracking server requires one."""
    network: pulumi.Input[str] | None = None
    """docker: the network; kubernetes: unused."""
    training_job_spec: pulumi.Input[Mapping[str, Any]] | None = None
    """The `training` output: the Job a retrain from the schedule starts (kubernetes, `retrain.trainConfig` set)."""


@dataclass
class MonitoringScheduleOutputs:
    runner: pulumi.Output[str]
    """The name of the CronJob or scheduler container that runs the monitor."""
