"""The explicit table of targets: which function builds each component on each target.

A facade looks its implementation up here by `settings.target` (a `Literal`, validated by
`infra.settings`), so adding a target means adding one row, and a missing function is a type error,
not a string that fails at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pulumi

from infra.components import docker, kubernetes
from infra.components.docker import monitoring as docker_monitoring
from infra.components.docker import registry as docker_registry
from infra.components.docker import serving as docker_serving
from infra.components.docker import storage as docker_storage
from infra.components.docker import tracking as docker_tracking
from infra.components.docker import training as docker_training
from infra.components.kubernetes import monitoring as kubernetes_monitoring
from infra.components.kubernetes import registry as kubernetes_registry
from infra.components.kubernetes import serving as kubernetes_serving
from infra.components.kubernetes import storage as kubernetes_storage
from infra.components.kubernetes import tracking as kubernetes_tracking
from infra.components.kubernetes import training as kubernetes_training
from infra.components.types import (
    ArtifactStoreArgs,
    ArtifactStoreOutputs,
    ContainerRegistryArgs,
    ContainerRegistryOutputs,
    Foundation,
    MonitoringScheduleArgs,
    MonitoringScheduleOutputs,
    ServingClusterArgs,
    ServingClusterOutputs,
    TrackingServerArgs,
    TrackingServerOutputs,
    TrainingClusterArgs,
    TrainingClusterOutputs,
)
from infra.settings import Settings

Component = pulumi.ComponentResource


@dataclass(frozen=True)
class Target:
    foundation: Callable[[pulumi.Resource, Settings], Foundation]
    registry: Callable[[Component, ContainerRegistryArgs], ContainerRegistryOutputs]
    storage: Callable[[Component, ArtifactStoreArgs], ArtifactStoreOutputs]
    tracking: Callable[[Component, TrackingServerArgs], TrackingServerOutputs]
    training: Callable[[Component, TrainingClusterArgs], TrainingClusterOutputs]
    serving: Callable[[Component, ServingClusterArgs], ServingClusterOutputs]
    monitoring: Callable[[Component, MonitoringScheduleArgs], MonitoringScheduleOutputs]


TARGETS: Mapping[str, Target] = {
    "docker": Target(
        foundation=docker.foundation,
        registry=docker_registry.create,
        storage=docker_storage.create,
        tracking=docker_tracking.create,
        training=docker_training.create,
        serving=docker_serving.create,
        monitoring=docker_monitoring.create,
    ),
    "kubernetes": Target(
        foundation=kubernetes.foundation,
        registry=kubernetes_registry.create,
        storage=kubernetes_storage.create,
        tracking=kubernetes_tracking.create,
        training=kubernetes_training.create,
        serving=kubernetes_serving.create,
        monitoring=kubernetes_monitoring.create,
    ),
}
