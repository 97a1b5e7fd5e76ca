"""TrackingServer: the MLflow tracking server with its backend store."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.components import implementation
from infra.components.storage import ArtifactStoreOutputs
from infra.settings import Settings


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


@dataclass
class TrackingServerOutputs:
    uri: pulumi.Output[str]
    """Where clients on this machine reach the server (docker: `http://127.0.0.1:<port>`)."""
    internal_uri: pulumi.Output[str]
    """Where the platform's own workloads reach it (container name or Service DNS)."""
    data_volume: pulumi.Output[str]
    """docker: the volume holding the SQLite store; kubernetes: the PVC name or empty."""


class TrackingServer(pulumi.ComponentResource):
    """MLflow server with artifact proxying, a health check and a restart policy.

    Target implementations receive `(component, TrackingServerArgs)` and return `TrackingServerOutputs`.
    The server runs `mlflow server --backend-store-uri <sqlite on a volume | postgres> --artifacts-destination
    <artifacts.destination>` with `server_env` of the artifact store, answers `/health`, and allows the
    Host headers its clients use.
    """

    uri: pulumi.Output[str]
    internal_uri: pulumi.Output[str]
    data_volume: pulumi.Output[str]

    def __init__(self, name: str, args: TrackingServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:tracking:TrackingServer", name, None, opts)
        out: TrackingServerOutputs = implementation(args.settings.target, "tracking").create(self, args)
        self.uri, self.internal_uri, self.data_volume = out.uri, out.internal_uri, out.data_volume
        self.register_outputs({"uri": self.uri, "internal_uri": self.internal_uri, "data_volume": self.data_volume})
