"""ArtifactStore on docker: a retained volume the tracking server serves through its artifact proxy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from infra.providers.docker import Volume

if TYPE_CHECKING:
    from infra.components.storage import ArtifactStore, ArtifactStoreArgs, ArtifactStoreOutputs

MOUNT = "/artifacts"


def create(component: ArtifactStore, args: ArtifactStoreArgs) -> ArtifactStoreOutputs:
    from infra.components.storage import ArtifactStoreOutputs

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
