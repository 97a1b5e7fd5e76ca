"""TrainingCluster on docker: no standing resource; the spec a `docker run` of a training job gets."""

from __future__ import annotations

import pulumi

from infra.components.types import TrainingClusterArgs, TrainingClusterOutputs


def create(component: pulumi.ComponentResource, args: TrainingClusterArgs) -> TrainingClusterOutputs:
    s = args.settings
    limits = {"cpus": s.training.limits.cpus, "memory_mb": s.training.limits.memory_mb}
    spec = pulumi.Output.all(image=args.image, tracking_uri=args.tracking_uri, network=args.network or s.prefix).apply(
        lambda v: {
            "target": "docker",
            "image": v["image"],
            "tracking_uri": v["tracking_uri"],
            "network": v["network"],
            "limits": limits,
            "labels": s.labels,
            "user": "10001:10001",
        }
    )
    return TrainingClusterOutputs(job_spec=spec)
