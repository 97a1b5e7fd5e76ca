"""TrackingServer on docker: the MLflow server container, SQLite on a volume or a Postgres container."""

from __future__ import annotations

import pulumi

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV
from infra.components.docker import LOOPBACK, health
from infra.components.types import TrackingServerArgs, TrackingServerOutputs
from infra.providers.docker import Container, Volume
from infra.providers.docker.container import SECRETS_MOUNT, Mount

PORT = 5000
POSTGRES_PORT = 5432
POSTGRES_PASSWORD_FILE = "postgres-password"
AUTH_CONFIG_DIR = "/run/mlops-auth"
"""A tmpfs of its own where the image's wrapper writes MLflow's basic_auth.ini (it holds the admin password)."""


def create(component: pulumi.ComponentResource, args: TrackingServerArgs) -> TrackingServerOutputs:
    s = args.settings
    name = component.pulumi_resource_name
    container_name = f"{s.prefix}-tracking"
    network = args.network or s.prefix
    data = Volume(
        f"{name}-data", name=f"{s.prefix}-tracking-data", labels=s.labels, opts=pulumi.ResourceOptions(parent=component)
    )
    secret_files: dict[str, pulumi.Input[str]] = {}
    env: dict[str, str] = {}
    depends_on: list[pulumi.Resource] = []
    if s.tracking.backend == "postgres":
        if args.postgres_image is None or args.postgres_password is None:
            raise ValueError("a postgres backend needs postgres_image and postgres_password")
        pg_data = Volume(
            f"{name}-postgres-data",
            name=f"{s.prefix}-postgres-data",
            labels=s.labels,
            opts=pulumi.ResourceOptions(parent=component),
        )
        postgres = Container(
            f"{name}-postgres",
            name=f"{s.prefix}-postgres",
            image=args.postgres_image,
            network=network,
            labels=s.labels,
            # A file, not an environment variable: `docker inspect` shows the environment to anyone with the
            # socket. The entrypoint sets the role's password from it on every start (rotation).
            secret_files={POSTGRES_PASSWORD_FILE: args.postgres_password},
            mounts=[
                {"type": "volume", "source": pg_data.volume_name, "target": "/var/lib/postgresql/data"},
                {"type": "tmpfs", "source": "", "target": "/tmp"},
            ],
            limits={"cpus": 1.0, "memory_mb": 512},
            user="postgres",
            healthcheck={
                "test": ["CMD", "/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1"],
                "interval_s": 2,
                "timeout_s": 3,
                "retries": 5,
                "start_period_s": 0,
            },
            ready_timeout_s=120,
            # Fixed name on the network: the provider stops the old one (it owns the data directory) before
            # the new one starts, and restarts it if the new one never gets ready.
            opts=pulumi.ResourceOptions(parent=component),
        )
        depends_on.append(postgres)
        # The password as a file; the image's wrapper builds the URI (password URL-quoted) in its own
        # process, so it is in neither the command line nor the container's environment.
        secret_files[POSTGRES_PASSWORD_FILE] = args.postgres_password
        env = {
            "MLOPS_POSTGRES_PASSWORD_FILE": f"{SECRETS_MOUNT}/{POSTGRES_PASSWORD_FILE}",
            "MLOPS_POSTGRES_HOST": f"{s.prefix}-postgres",
            "MLOPS_POSTGRES_PORT": str(POSTGRES_PORT),
            "MLOPS_POSTGRES_USER": "mlflow",
            "MLOPS_POSTGRES_DB": "mlflow",
        }
        backend_args: list[str] = []
    else:
        backend_args = ["--backend-store-uri", "sqlite:////data/mlflow.db"]
    auth_args: list[str] = []
    auth_mounts: list[Mount] = []
    if args.credentials is not None:
        # MLflow's basic-auth app: the users live beside the store (the wrapper puts them in /data or the
        # stack's Postgres), the admin's password is a secret file and the generated config a private tmpfs.
        auth_args = ["--app-name", "basic-auth"]
        secret_files[TRACKING_PASSWORD_FILE] = args.credentials.password
        env = {
            **env,
            TRACKING_USERNAME_ENV: args.credentials.username,
            TRACKING_PASSWORD_FILE_ENV: f"{SECRETS_MOUNT}/{TRACKING_PASSWORD_FILE}",
            "MLOPS_AUTH_CONFIG_DIR": AUTH_CONFIG_DIR,
        }
        auth_mounts = [{"type": "tmpfs", "source": "", "target": AUTH_CONFIG_DIR}]

    allowed = ",".join(f"{host},{host}:*" for host in (container_name, LOOPBACK, "localhost"))
    command: list[pulumi.Input[str]] = [
        *auth_args,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--workers",
        str(s.tracking.workers),
        *backend_args,
        "--artifacts-destination",
        args.artifacts.destination,
        "--serve-artifacts",
        "--allowed-hosts",
        allowed,
    ]
    container = Container(
        f"{name}-container",
        name=container_name,
        image=args.image,
        network=network,
        labels={**s.labels, "mlops.role": "tracking"},
        command=command,
        env=pulumi.Output.from_input(args.artifacts.server_env).apply(lambda extra: {**extra, **env}),
        secret_files=secret_files,
        # Published on loopback only, whether or not the stack turns MLflow's basic auth on (`local` does not).
        ports=[{"internal": PORT, "external": s.tracking.port, "host_ip": LOOPBACK}],
        mounts=[
            {"type": "volume", "source": data.volume_name, "target": "/data"},
            {"type": "volume", "source": args.artifacts.volume, "target": "/artifacts"},
            {"type": "tmpfs", "source": "", "target": "/tmp"},
            *auth_mounts,
        ],
        limits={"cpus": s.tracking.limits.cpus, "memory_mb": s.tracking.limits.memory_mb},
        user="10001:10001",
        # A fresh store migrates before /health answers (minutes on a busy host): failures while starting
        # up do not mark the container unhealthy, the first answer marks it healthy.
        healthcheck=health(
            f"http://127.0.0.1:{PORT}/health", interval_s=2, retries=3, start_period_s=s.tracking.ready_timeout_seconds
        ),
        ready_timeout_s=s.tracking.ready_timeout_seconds,
        # Same name and host port across replacements: the provider sets the old container aside and
        # removes it once the new one is healthy, or brings it back if the new one never is; the data is
        # on volumes and survives either way.
        opts=pulumi.ResourceOptions(parent=component, depends_on=depends_on),
    )
    return TrackingServerOutputs(
        uri=container.name.apply(lambda _: f"http://{LOOPBACK}:{s.tracking.port}"),
        internal_uri=container.name.apply(lambda n: f"http://{n}:{PORT}"),
        data_volume=data.volume_name,
    )
