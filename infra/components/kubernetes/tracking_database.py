"""The tracking server's in-cluster Postgres (`mlops:kubernetes.tracking.database: in-cluster`): a StatefulSet of
our postgres-cluster image with its password as a Secret file, its Service, and a policy that only the
tracking server may reach it."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV
from infra.components.kubernetes import (
    container_security,
    ingress_only_from,
    kubernetes_settings,
    labels,
    metadata,
    pod_security,
    resources,
    selector,
    volume_claim_spec,
    volume_owner,
)
from infra.components.kubernetes.registry import pull_secret_name
from infra.components.types import TrackingCredentials, TrackingServerArgs

POSTGRES_PORT = 5432
POSTGRES_UID = 999
DB_NAME = "mlflow"
DB_USER = "mlflow"
PG_MOUNT = "/var/lib/postgresql/data"  # postgres-entrypoint.sh initialises PG_MOUNT/pgdata
SECRETS_MOUNT = "/run/mlops-secrets"
# Read-only for the owner and the pod's fsGroup (the non-root user), nobody else.
SECRET_MODE = 0o440


def postgres(
    component: pulumi.ComponentResource, args: TrackingServerArgs, name: str, password: pulumi.Input[str]
) -> str:
    """The in-cluster Postgres StatefulSet and its Service; returns the Service's host name."""
    if args.postgres_image is None:
        raise ValueError(f"stack '{args.settings.stack}': postgres backend without a postgres image")
    image = args.postgres_image
    s = args.settings
    ks = kubernetes_settings(s)
    pg_labels = labels(s, "tracking-db")
    pg_selector = selector(s, "tracking-db")
    host = f"{s.prefix}-tracking-db"
    secret = k8s.core.v1.Secret(
        f"{name}-db-password",
        metadata=metadata(f"{s.prefix}-tracking-db-password", ks.namespace, pg_labels),
        string_data={"POSTGRES_PASSWORD": password},
        opts=pulumi.ResourceOptions(parent=component, additional_secret_outputs=["stringData", "data"]),
    )
    service = k8s.core.v1.Service(
        f"{name}-db-service",
        metadata=metadata(host, ks.namespace, pg_labels),
        spec={
            "selector": pg_selector,
            "ports": [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": POSTGRES_PORT}],
        },
        opts=pulumi.ResourceOptions(parent=component),
    )
    ready = {
        "exec": {"command": ["/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-U", DB_USER, "-d", DB_NAME]},
        "periodSeconds": 5,
        "failureThreshold": 6,
        "timeoutSeconds": 3,
    }
    k8s.apps.v1.StatefulSet(
        f"{name}-db",
        metadata=metadata(host, ks.namespace, pg_labels),
        spec={
            "serviceName": service.metadata.name,
            "replicas": 1,
            "selector": {"matchLabels": pg_selector},
            "template": {
                "metadata": {"labels": pg_labels},
                "spec": {
                    "securityContext": pod_security(POSTGRES_UID),
                    "imagePullSecrets": [{"name": pull_secret_name(s.prefix)}],
                    **(
                        {"initContainers": [volume_owner(image, PG_MOUNT, POSTGRES_UID)]}
                        if ks.volume_permissions
                        else {}
                    ),
                    "containers": [
                        {
                            "name": "postgres",
                            "image": image,
                            "imagePullPolicy": ks.image_pull_policy,
                            "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
                            # The password is a mounted file, never in the container's environment: our
                            # image's entrypoint reads MLOPS_POSTGRES_PASSWORD_FILE (and sets the role's
                            # password from it on every start), an upstream `images.postgres` reads
                            # POSTGRES_PASSWORD_FILE.
                            "env": [
                                {"name": "POSTGRES_USER", "value": DB_USER},
                                {"name": "POSTGRES_DB", "value": DB_NAME},
                                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                                {"name": "POSTGRES_PASSWORD_FILE", "value": f"{SECRETS_MOUNT}/postgres-password"},
                                {"name": "MLOPS_POSTGRES_PASSWORD_FILE", "value": f"{SECRETS_MOUNT}/postgres-password"},
                            ],
                            "resources": resources(s.tracking.limits, ks.request_fraction),
                            # Postgres writes its socket and pid files outside the data volume.
                            "securityContext": container_security(POSTGRES_UID, read_only_root=False),
                            "readinessProbe": ready,
                            "livenessProbe": {**ready, "periodSeconds": 20},
                            "volumeMounts": [
                                {"name": "data", "mountPath": PG_MOUNT},
                                {"name": "secrets", "mountPath": SECRETS_MOUNT, "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {
                            "name": "secrets",
                            "secret": {
                                "secretName": secret.metadata.name,
                                "items": [{"key": "POSTGRES_PASSWORD", "path": "postgres-password"}],
                                "defaultMode": SECRET_MODE,
                            },
                        },
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data", "labels": pg_labels},
                    "spec": volume_claim_spec(s, ks.tracking.postgres_storage_gi),
                }
            ],
        },
        opts=pulumi.ResourceOptions(parent=component),
    )
    # The database answers the tracking server and nothing else in the cluster.
    ingress_only_from(
        f"{name}-db-ingress",
        metadata(host, ks.namespace, pg_labels),
        pg_selector,
        [{"podSelector": {"matchLabels": selector(s, "tracking")}}],
        POSTGRES_PORT,
        component,
    )
    return f"{host}.{ks.namespace}.svc.cluster.local"


def tracking_login_file(
    component: pulumi.ComponentResource,
    object_name: str,
    namespace: str,
    object_labels: dict[str, str],
    login: TrackingCredentials,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """A pod's login to the tracking server: a Secret of the pod's own holding the password, mounted as a file
    (never an environment variable). Returns the container's env entries, its volume mount and the volume."""
    secret = k8s.core.v1.Secret(
        f"{component.pulumi_resource_name}-tracking-login",
        metadata=metadata(f"{object_name}-tracking-login", namespace, object_labels),
        string_data={"password": login.password},
        opts=pulumi.ResourceOptions(parent=component, additional_secret_outputs=["stringData", "data"]),
    )
    env = [
        {"name": TRACKING_USERNAME_ENV, "value": login.username},
        {"name": TRACKING_PASSWORD_FILE_ENV, "value": f"{SECRETS_MOUNT}/{TRACKING_PASSWORD_FILE}"},
    ]
    mount = {"name": "tracking-login", "mountPath": SECRETS_MOUNT, "readOnly": True}
    volume = {
        "name": "tracking-login",
        "secret": {
            "secretName": secret.metadata.name,
            "items": [{"key": "password", "path": TRACKING_PASSWORD_FILE}],
            "defaultMode": SECRET_MODE,
        },
    }
    return env, mount, volume
