"""ArtifactStore on kubernetes: a location on any S3-compatible endpoint and its credentials as a Secret.

The bucket itself is the team's (its lifecycle, encryption and access policy belong to whoever owns the
account), so this component declares where artifacts go and how the platform authenticates there; only
with `artifacts.createBucket` (a throwaway endpoint such as the local cluster's moto) does it create it.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.kubernetes import artifact_secret_name, kubernetes_settings, labels, metadata
from infra.components.kubernetes.bucket import Bucket
from infra.components.types import ArtifactStoreArgs, ArtifactStoreOutputs


def create(component: pulumi.ComponentResource, args: ArtifactStoreArgs) -> ArtifactStoreOutputs:
    s = args.settings
    ks = kubernetes_settings(s)
    access_key_id, secret_access_key = s.secrets.artifacts_access_key_id, s.secrets.artifacts_secret_access_key
    if access_key_id is None or secret_access_key is None:
        raise ValueError(f"stack '{s.stack}': the kubernetes target without the artifact store's S3 credentials")
    secret = k8s.core.v1.Secret(
        f"{component.pulumi_resource_name}-credentials",
        metadata=metadata(artifact_secret_name(s), ks.namespace, labels(s, "artifacts")),
        type="Opaque",
        string_data={
            "AWS_ACCESS_KEY_ID": access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret_access_key,
        },
        opts=pulumi.ResourceOptions(parent=component, additional_secret_outputs=["stringData", "data"]),
    )
    if ks.artifacts.create_bucket:
        Bucket(
            f"{component.pulumi_resource_name}-bucket",
            bucket=ks.artifacts.bucket,
            endpoint=ks.artifacts.endpoint,
            region=ks.artifacts.region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            opts=pulumi.ResourceOptions(parent=component),
        )
    location = ks.artifacts.location
    # The env names the Secret only once it exists, so the tracking server is applied after it.
    server_env = secret.metadata.apply(
        lambda _: {
            "MLFLOW_S3_ENDPOINT_URL": ks.artifacts.endpoint,
            "AWS_ENDPOINT_URL_S3": ks.artifacts.endpoint,
            "AWS_DEFAULT_REGION": ks.artifacts.region,
        }
    )
    return ArtifactStoreOutputs(
        location=pulumi.Output.from_input(location),
        destination=pulumi.Output.from_input(location),
        volume=pulumi.Output.from_input(""),
        server_env=server_env,
    )
