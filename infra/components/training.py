"""TrainingCluster: where `mlops train --env X` runs its jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from infra.components.targets import TARGETS
from infra.components.types import TrainingClusterArgs, TrainingClusterOutputs


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
        out: TrainingClusterOutputs = TARGETS[args.settings.target].training(self, args)
        self.job_spec = out.job_spec
        self.register_outputs({"job_spec": self.job_spec})
