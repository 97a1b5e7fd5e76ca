"""TrainingCluster: where `mlops train --env X` runs its jobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.components import implementation
from infra.settings import Settings


@dataclass
class TrainingClusterArgs:
    settings: Settings
    image: pulumi.Input[str]
    """The trainer image (`images["trainer"]`)."""
    tracking_uri: pulumi.Input[str]
    """The tracking server as jobs reach it (internal URI)."""
    network: pulumi.Input[str] | None = None
    """docker: the network jobs join; kubernetes: unused."""


@dataclass
class TrainingClusterOutputs:
    job_spec: pulumi.Output[Mapping[str, Any]]
    """What a job launcher needs, exported as the stack output `training`: at least `image`,
    `limits` ({cpus, memory_mb}) and `tracking_uri`; docker adds `network` and `labels`;
    kubernetes adds `namespace` and `service_account`."""


class TrainingCluster(pulumi.ComponentResource):
    """The place and the limits of training jobs.

    Target implementations receive `(component, TrainingClusterArgs)` and return `TrainingClusterOutputs`.
    docker: no long-running resource; the job spec names the trainer image, the network and the limits
    a `docker run` of a job gets. kubernetes: Namespace, ResourceQuota, LimitRange, ServiceAccount and a
    Role allowed to run Jobs.
    """

    job_spec: pulumi.Output[Mapping[str, Any]]

    def __init__(self, name: str, args: TrainingClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:training:TrainingCluster", name, None, opts)
        out: TrainingClusterOutputs = implementation(args.settings.target, "training").create(self, args)
        self.job_spec = out.job_spec
        self.register_outputs({"job_spec": self.job_spec})
