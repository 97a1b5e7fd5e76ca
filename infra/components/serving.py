"""ServingCluster: the model server replicas behind one endpoint."""

from __future__ import annotations

import pulumi

from infra.components.targets import TARGETS
from infra.components.types import ServingClusterArgs, ServingClusterOutputs


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
        out: ServingClusterOutputs = TARGETS[args.settings.target].serving(self, args)
        self.endpoint, self.model_uri, self.prediction_log_uri = out.endpoint, out.model_uri, out.prediction_log_uri
        self.register_outputs(
            {"endpoint": self.endpoint, "model_uri": self.model_uri, "prediction_log_uri": self.prediction_log_uri}
        )
