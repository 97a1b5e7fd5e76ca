"""ArtifactStore: where MLflow keeps run artifacts and model files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from infra.components import implementation
from infra.settings import Settings


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
        out: ArtifactStoreOutputs = implementation(args.settings.target, "storage").create(self, args)
        self.outputs = out
        self.location, self.destination = out.location, out.destination
        self.volume, self.server_env = out.volume, out.server_env
        self.register_outputs({"location": self.location, "destination": self.destination, "volume": self.volume})
