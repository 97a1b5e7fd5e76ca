"""ArtifactStore: where MLflow keeps run artifacts and model files."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from infra.components.targets import TARGETS
from infra.components.types import ArtifactStoreArgs, ArtifactStoreOutputs


class ArtifactStore(pulumi.ComponentResource):
    """The artifact store of one environment.

    Target implementations receive `(component, ArtifactStoreArgs)` and return `ArtifactStoreOutputs`.
    docker: a named volume labelled with the stack, kept on `destroy`, mounted by the tracking server
    and served through MLflow's artifact proxy. kubernetes: an S3 location on any S3-compatible
    endpoint with its credentials as secrets.
    """

    location: pulumi.Output[str]
    destination: pulumi.Output[str]
    volume: pulumi.Output[str]
    server_env: pulumi.Output[Mapping[str, str]]
    outputs: ArtifactStoreOutputs

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:storage:ArtifactStore", name, None, opts)
        out: ArtifactStoreOutputs = TARGETS[args.settings.target].storage(self, args)
        self.outputs = out
        self.location, self.destination = out.location, out.destination
        self.volume, self.server_env = out.volume, out.server_env
        self.register_outputs({"location": self.location, "destination": self.destination, "volume": self.volume})
