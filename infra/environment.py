"""The platform of one stack: its components wired together for the stack's target.

Named `environment` rather than `platform`: Pulumi runs programs and dynamic providers with `infra/` on
`sys.path`, where a `platform.py` would shadow the standard library module of that name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from contract import Outputs
from infra.components.monitoring import MonitoringSchedule, MonitoringScheduleArgs
from infra.components.registry import ContainerRegistry, ContainerRegistryArgs
from infra.components.serving import ServingCluster, ServingClusterArgs
from infra.components.storage import ArtifactStore, ArtifactStoreArgs
from infra.components.targets import TARGETS
from infra.components.tracking import ADMIN_USERNAME, TrackingServer, TrackingServerArgs
from infra.components.training import TrainingCluster, TrainingClusterArgs
from infra.components.types import TrackingCredentials
from infra.providers.secret import RandomSecret
from infra.settings import Settings


class Platform(pulumi.ComponentResource):
    """Registry, artifact store, tracking server, training and serving clusters of one environment, and the
    scheduled monitor of what it serves when the stack sets `mlops:monitoring.schedule`.

    `model_uri` is the pinned model to serve (see `infra.model_ref`), or "" for none.
    """

    outputs: Mapping[str, pulumi.Output[Any]]

    def __init__(
        self, name: str, settings: Settings, model_uri: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:platform:Platform", name, None, opts)
        base = TARGETS[settings.target].foundation(self, settings)
        child = pulumi.ResourceOptions(parent=self, providers=list(base.providers))

        registry_password = (
            settings.secrets.registry_password
            or RandomSecret(f"{name}-registry-password", opts=pulumi.ResourceOptions(parent=self)).value
        )
        postgres_password = settings.secrets.postgres_password
        if settings.tracking.backend == "postgres" and postgres_password is None:
            postgres_password = RandomSecret(
                f"{name}-postgres-password", opts=pulumi.ResourceOptions(parent=self)
            ).value

        # The tracking server's login: set once (mlops:trackingPassword) or generated into state, and read by
        # `mlops` from the stack's secret outputs, so nobody needs to know it beforehand.
        tracking_login = (
            TrackingCredentials(
                username=ADMIN_USERNAME,
                password=settings.secrets.tracking_password
                or RandomSecret(f"{name}-tracking-password", opts=pulumi.ResourceOptions(parent=self)).value,
            )
            if settings.tracking.auth
            else None
        )

        artifacts = ArtifactStore(f"{name}-artifacts", ArtifactStoreArgs(settings=settings), child)
        registry = ContainerRegistry(
            f"{name}-registry",
            ContainerRegistryArgs(settings=settings, password=registry_password, network=base.network),
            child,
        )

        def image(role: str) -> pulumi.Output[str]:
            return registry.images.apply(lambda refs: refs.get(role, ""))

        tracking = TrackingServer(
            f"{name}-tracking",
            TrackingServerArgs(
                settings=settings,
                image=image("tracking"),
                artifacts=artifacts.outputs,
                postgres_image=image("postgres") if settings.tracking.backend == "postgres" else None,
                postgres_password=postgres_password,
                network=base.network,
                credentials=tracking_login,
            ),
            child,
        )
        training = TrainingCluster(
            f"{name}-training",
            TrainingClusterArgs(
                settings=settings,
                image=image("trainer"),
                tracking_uri=tracking.internal_uri,
                network=base.network,
                tracking_credentials=tracking_login,
            ),
            child,
        )
        serving = ServingCluster(
            f"{name}-serving",
            ServingClusterArgs(
                settings=settings,
                image=image("server"),
                model_uri=model_uri,
                tracking_uri=tracking.internal_uri,
                tracking_credentials=tracking_login,
                balancer_image=image("balancer"),
                network=base.network,
            ),
            child,
        )

        if settings.monitoring.scheduled and model_uri:
            # The served version is what the prediction log holds answers of, so it is what a pass judges.
            MonitoringSchedule(
                f"{name}-monitoring",
                MonitoringScheduleArgs(
                    settings=settings,
                    image=image("trainer"),
                    model_uri=model_uri,
                    tracking_uri=tracking.internal_uri,
                    prediction_log_uri=serving.prediction_log_uri,
                    tracking_credentials=tracking_login,
                    network=base.network,
                    training_job_spec=training.job_spec,
                ),
                child,
            )

        self.outputs = {
            Outputs.TARGET: pulumi.Output.from_input(settings.target),
            Outputs.TRACKING_URI: tracking.uri,
            Outputs.TRACKING_URI_INTERNAL: tracking.internal_uri,
            Outputs.REGISTRY_ADDRESS: registry.address,
            Outputs.REGISTRY_CREDENTIALS: pulumi.Output.secret(
                pulumi.Output.all(username=registry.username, password=registry.password)
            ),
            Outputs.SERVING_ENDPOINT: serving.endpoint,
            Outputs.SERVING_MODEL_URI: pulumi.Output.from_input(settings.serving.model_uri),
            Outputs.SERVED_MODEL_URI: serving.model_uri,
            Outputs.ARTIFACT_LOCATION: artifacts.location,
            Outputs.PREDICTION_LOG_URI: serving.prediction_log_uri,
            Outputs.IMAGES: registry.images,
            Outputs.TRAINING: training.job_spec,
            Outputs.TRACKING_CREDENTIALS: tracking.credentials,
        }
        self.register_outputs(dict(self.outputs))
