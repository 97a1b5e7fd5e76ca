"""TrackingServer on kubernetes: MLflow Deployment and Service, its backend store and the artifact proxy.

Backend store by `mlops:tracking.backend`: `sqlite` on a PVC (one replica, recreated on update, since
only one pod may hold the volume), or `postgres` - a StatefulSet of ours (`mlops:kubernetes.tracking.
database: in-cluster`) or an external server whose URL is the secret `mlops:trackingDatabaseUrl`.
The in-cluster Postgres runs our postgres-cluster image (Debian's postgresql-15 with the fixed uid 999 the
kubelet can verify, infra/images/postgres-cluster.Dockerfile) from the stack's registry, or `images.postgres`.
The server proxies artifacts, so only it holds the S3 credentials.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV
from infra.components.kubernetes import (
    APP_UID,
    container_security,
    http_probe,
    ingress_only_from,
    kubernetes_settings,
    labels,
    metadata,
    pod_security,
    resources,
    s3_env,
    selector,
    service_spec,
    service_url,
    volume_claim_spec,
    volume_owner,
)
from infra.components.kubernetes.registry import pull_secret_name
from infra.components.kubernetes.tracking_database import (
    DB_NAME,
    DB_USER,
    POSTGRES_PORT,
    SECRET_MODE,
    SECRETS_MOUNT,
    postgres,
)
from infra.components.types import TrackingServerArgs, TrackingServerOutputs

MLFLOW_PORT = 5000
STORE_URI_FILE = "backend-store-uri"
ADMIN_PASSWORD_KEY = "MLOPS_TRACKING_PASSWORD"
AUTH_CONFIG_DIR = "/run/mlops-auth"
"""A memory-backed emptyDir where the image's wrapper writes MLflow's basic_auth.ini (it holds the password)."""


def create(component: pulumi.ComponentResource, args: TrackingServerArgs) -> TrackingServerOutputs:
    s = args.settings
    ks = kubernetes_settings(s)
    name = component.pulumi_resource_name
    service_name = f"{s.prefix}-tracking"
    tracking_labels = labels(s, "tracking")
    store_secret_name = f"{s.prefix}-tracking-store"
    # The store URI (with the database password) is a file the image's wrapper reads: not on MLflow's
    # command line, where `ps` and the pod spec would show it, nor in the container's environment.
    store_items = [{"key": "MLOPS_BACKEND_STORE_URI", "path": STORE_URI_FILE}]
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {}},
        {
            "name": "store",
            "secret": {
                "secretName": store_secret_name,
                "items": store_items,
                "defaultMode": SECRET_MODE,
            },
        },
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "store", "mountPath": SECRETS_MOUNT, "readOnly": True},
    ]
    data_volume = ""
    init_containers: list[dict[str, Any]] = []

    store_uri: pulumi.Input[str]
    if s.tracking.backend == "sqlite":
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata=metadata(f"{s.prefix}-tracking-data", ks.namespace, tracking_labels),
            spec=volume_claim_spec(s, ks.tracking.storage_gi),
            # The SQLite store is the experiment history: it outlives the stack.
            opts=pulumi.ResourceOptions(parent=component, retain_on_delete=True),
        )
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": claim.metadata.name}})
        mounts.append({"name": "data", "mountPath": "/data"})
        if ks.volume_permissions:
            init_containers.append(volume_owner(args.image, "/data"))
        data_volume = f"{s.prefix}-tracking-data"
        store_uri = "sqlite:////data/mlflow.db"
    elif ks.tracking.database == "external":
        if s.secrets.tracking_database_url is None:
            raise ValueError(f"stack '{s.stack}': external tracking database without mlops:trackingDatabaseUrl")
        store_uri = s.secrets.tracking_database_url
    else:
        if args.postgres_password is None:
            raise ValueError(f"stack '{s.stack}': postgres backend without mlops:postgresPassword")
        host = postgres(component, args, name, args.postgres_password)
        store_uri = pulumi.Output.secret(args.postgres_password).apply(
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the image has psycopg2.
            lambda password: (
                f"postgresql+psycopg2://{DB_USER}:{quote(password, safe='')}@{host}:{POSTGRES_PORT}/{DB_NAME}"
            )
        )

    secret_data: dict[str, pulumi.Input[str]] = {"MLOPS_BACKEND_STORE_URI": store_uri}
    auth_args: list[str] = []
    auth_env: list[dict[str, Any]] = []
    login = args.credentials
    if login is not None:
        # MLflow's basic-auth app: the admin's password is one more item of the store's Secret, mounted as a
        # file; the wrapper keeps the users in the same database as the store (or beside the SQLite file).
        secret_data[ADMIN_PASSWORD_KEY] = login.password
        store_items.append({"key": ADMIN_PASSWORD_KEY, "path": TRACKING_PASSWORD_FILE})
        volumes.append({"name": "auth-config", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
        mounts.append({"name": "auth-config", "mountPath": AUTH_CONFIG_DIR})
        auth_args = ["--app-name", "basic-auth"]
        auth_env = [
            {"name": TRACKING_USERNAME_ENV, "value": login.username},
            {"name": TRACKING_PASSWORD_FILE_ENV, "value": f"{SECRETS_MOUNT}/{TRACKING_PASSWORD_FILE}"},
            {"name": "MLOPS_AUTH_CONFIG_DIR", "value": AUTH_CONFIG_DIR},
        ]

    store_secret = k8s.core.v1.Secret(
        f"{name}-store",
        metadata=metadata(store_secret_name, ks.namespace, tracking_labels),
        string_data=secret_data,
        opts=pulumi.ResourceOptions(parent=component, additional_secret_outputs=["stringData", "data"]),
    )

    internal = service_url(service_name, ks.namespace, ks.tracking.port)
    public_host = s.tracking.public_url.split("://", 1)[-1].split("/", 1)[0] if s.tracking.public_url else ""
    # MLflow rejects Host headers it does not know (DNS rebinding); these are the names clients use.
    allowed_hosts = [
        service_name,
        f"{service_name}.{ks.namespace}",
        f"{service_name}.{ks.namespace}.svc",
        f"{service_name}.{ks.namespace}.svc.cluster.local",
    ]
    allowed = ",".join(
        [*allowed_hosts, *(f"{h}:{ks.tracking.port}" for h in allowed_hosts), *([public_host] if public_host else [])]
    )
    base_env: list[dict[str, Any]] = [
        {"name": "MLOPS_BACKEND_STORE_URI_FILE", "value": f"{SECRETS_MOUNT}/{STORE_URI_FILE}"},
        {"name": "HOME", "value": "/tmp"},
        *auth_env,
        *s3_env(s),
    ]
    env = args.artifacts.server_env.apply(
        lambda extra: [
            *base_env,
            *(
                {"name": key, "value": value}
                for key, value in sorted(extra.items())
                if key not in {item["name"] for item in base_env}
            ),
        ]
    )
    tracking_selector = selector(s, "tracking")
    deployment = k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata=metadata(service_name, ks.namespace, tracking_labels),
        spec={
            "replicas": ks.tracking.replicas,
            "selector": {"matchLabels": tracking_selector},
            # One pod at a time may hold the SQLite volume; Postgres-backed replicas roll without a gap.
            "strategy": {"type": "Recreate"}
            if s.tracking.backend == "sqlite"
            else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": tracking_labels},
                "spec": {
                    "securityContext": pod_security(APP_UID),
                    "imagePullSecrets": [{"name": pull_secret_name(s.prefix)}],
                    **({"initContainers": init_containers} if init_containers else {}),
                    "containers": [
                        {
                            "name": "mlflow",
                            "image": args.image,
                            "imagePullPolicy": ks.image_pull_policy,
                            # The image's entrypoint is `mlflow server` behind the wrapper that reads the
                            # store URI from MLOPS_BACKEND_STORE_URI_FILE.
                            "args": [
                                *auth_args,
                                "--host",
                                "0.0.0.0",
                                "--port",
                                str(MLFLOW_PORT),
                                # MLflow starts four workers unless told (about 250 MB each): over dev's 1 GiB
                                # limit, the pod was OOM-killed mid-training on the local cluster.
                                "--workers",
                                str(s.tracking.workers),
                                "--artifacts-destination",
                                args.artifacts.destination,
                                "--serve-artifacts",
                                "--allowed-hosts",
                                allowed,
                            ],
                            "ports": [{"name": "http", "containerPort": MLFLOW_PORT}],
                            "env": env,
                            "resources": resources(s.tracking.limits, ks.request_fraction),
                            "securityContext": container_security(APP_UID, read_only_root=False),
                            "startupProbe": http_probe("/health", "http", period=5, failures=60, host=service_name),
                            "readinessProbe": http_probe("/health", "http", period=5, host=service_name),
                            "livenessProbe": http_probe("/health", "http", period=15, failures=4, host=service_name),
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=component, depends_on=[store_secret]),
    )
    service = k8s.core.v1.Service(
        f"{name}-service",
        metadata=metadata(service_name, ks.namespace, tracking_labels),
        spec=service_spec(tracking_selector, ks.tracking.port, ks.tracking.node_port),
        opts=pulumi.ResourceOptions(parent=component, depends_on=[deployment]),
    )
    # Besides MLflow's basic auth (on unless the stack turns it off): in the cluster only the platform's
    # namespaces and those the stack lists (an ingress controller's) reach it; `kubectl port-forward` is not
    # subject to this.
    platform_namespaces = {
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": [ks.namespace, ks.training.namespace],
                }
            ]
        }
    }
    ingress_only_from(
        f"{name}-ingress",
        metadata(service_name, ks.namespace, tracking_labels),
        tracking_selector,
        [platform_namespaces],
        MLFLOW_PORT,
        component,
    )
    internal_uri = service.metadata.apply(lambda _: internal)
    return TrackingServerOutputs(
        uri=pulumi.Output.from_input(s.tracking.public_url) if s.tracking.public_url else internal_uri,
        internal_uri=internal_uri,
        data_volume=pulumi.Output.from_input(data_volume),
    )
