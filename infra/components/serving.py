"""ServingCluster: the model server replicas behind one endpoint."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.components import implementation
from infra.settings import Settings


@dataclass
class ServingClusterArgs:
    settings: Settings
    image: pulumi.Input[str]
    """The model-server image (`images["server"]`)."""
    model_uri: str
    """The pinned `models:/NAME/VERSION` to serve, resolved by `infra.model_ref` at program start;
    empty when nothing resolved: then no replicas are created and the endpoint is empty."""
    tracking_uri: pulumi.Input[str]
    """The tracking server as replicas reach it (internal URI)."""
    balancer_image: pulumi.Input[str] | None = None
    """docker: the load balancer image (`images["balancer"]`); kubernetes: unused (a Service)."""
    network: pulumi.Input[str] | None = None
    """docker: the network; kubernetes: unused."""


@dataclass
class ServingClusterOutputs:
    endpoint: pulumi.Output[str]
    """Where clients on this machine send predictions (docker: `http://127.0.0.1:<port>`), or empty."""
    model_uri: pulumi.Output[str]
    """The pinned model URI the replicas serve, or empty."""
    prediction_log_uri: pulumi.Output[str]
    """`file://<host dir>` (docker) or `s3://bucket/prefix`."""


class ServingCluster(pulumi.ComponentResource):
    """`settings.serving.replicas` model servers of `model_uri`, rolled without a gap.

    Target implementations receive `(component, ServingClusterArgs)` and return `ServingClusterOutputs`.
    Replicas run the server image with the env vars of docs/architecture.md (`MLFLOW_TRACKING_URI`,
    `MLOPS_MODEL_URI`, `MLOPS_PREDICTION_LOG`, ...). A new version becomes ready before the old one
    goes; a rollout that never gets ready fails the update and leaves the old version serving.
    """

    endpoint: pulumi.Output[str]
    model_uri: pulumi.Output[str]
    prediction_log_uri: pulumi.Output[str]

    def __init__(self, name: str, args: ServingClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:ServingCluster", name, None, opts)
        out: ServingClusterOutputs = implementation(args.settings.target, "serving").create(self, args)
        self.endpoint, self.model_uri, self.prediction_log_uri = out.endpoint, out.model_uri, out.prediction_log_uri
        self.register_outputs(
            {"endpoint": self.endpoint, "model_uri": self.model_uri, "prediction_log_uri": self.prediction_log_uri}
        )
