"""ArtifactStore on docker: a retained volume the tracking server serves through its artifact proxy."""

from __future__ import annotations

import pulumi

from infra.components.types import ArtifactStoreArgs, ArtifactStoreOutputs
from infra.providers.docker import Volume

MOUNT = "/artifacts"


def create(component: pulumi.ComponentResource, args: ArtifactStoreArgs) -> ArtifactStoreOutputs:
    volume = Volume(
        f"{component.pulumi_resource_name}-volume",
        name=args.settings.artifacts.volume,
        labels=args.settings.labels,
        opts=pulumi.ResourceOptions(parent=component),
    )
    return ArtifactStoreOutputs(
        location=pulumi.Output.from_input("mlflow-artifacts:/"),
        destination=pulumi.Output.from_input(MOUNT),
        volume=volume.volume_name,
        server_env=pulumi.Output.from_input({}),
    )
