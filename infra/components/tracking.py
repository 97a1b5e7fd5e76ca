"""TrackingServer: the MLflow tracking server with its backend store."""

from __future__ import annotations

import pulumi

from infra.components.targets import TARGETS
from infra.components.types import TrackingServerArgs, TrackingServerOutputs

ADMIN_USERNAME = "mlops"
"""The tracking server's basic-auth admin: the login of `mlops` and of the platform's own workloads."""


class TrackingServer(pulumi.ComponentResource):
    """MLflow server with artifact proxying, a health check and a restart policy.

    Target implementations receive `(component, TrackingServerArgs)` and return `TrackingServerOutputs`.
    The server runs `mlflow server --backend-store-uri <sqlite on a volume | postgres> --artifacts-destination
    <artifacts.destination>` with `server_env` of the artifact store, answers `/health`, and allows the
    Host headers its clients use. With `args.credentials` it runs `--app-name basic-auth`, the admin's password
    a secret file the image's wrapper reads (`infra/images/tracking-server.py`), and `credentials` is
    `{username, password}` (a secret); without, `credentials` is `{}`.
    """

    uri: pulumi.Output[str]
    internal_uri: pulumi.Output[str]
    data_volume: pulumi.Output[str]
    credentials: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: TrackingServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:tracking:TrackingServer", name, None, opts)
        out: TrackingServerOutputs = TARGETS[args.settings.target].tracking(self, args)
        self.uri, self.internal_uri, self.data_volume = out.uri, out.internal_uri, out.data_volume
        login = args.credentials
        self.credentials = pulumi.Output.secret(
            pulumi.Output.all(username=login.username, password=login.password) if login else {}
        )
        self.register_outputs(
            {
                "uri": self.uri,
                "internal_uri": self.internal_uri,
                "data_volume": self.data_volume,
                "credentials": self.credentials,
            }
        )
