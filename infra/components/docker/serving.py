"""ServingCluster on docker: N model-server replicas behind one nginx endpoint on loopback."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pulumi

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV
from infra.components.docker import LOOPBACK, health
from infra.components.types import ServingClusterArgs, ServingClusterOutputs
from infra.providers.docker import Container, Volume
from infra.providers.docker.container import SECRETS_MOUNT

PORT = 8080
LOG_MOUNT = "/var/log/mlops/predictions"
CACHE_MOUNT = "/var/cache/mlops/models"


def _replica_name(prefix: str, index: int) -> Callable[[str], str]:
    return lambda revision: f"{prefix}-serving-{index}-{revision}"


def create(component: pulumi.ComponentResource, args: ServingClusterArgs) -> ServingClusterOutputs:
    s = args.settings
    sv = s.serving
    name = component.pulumi_resource_name
    log_uri = f"file://{sv.prediction_log.dir}"
    if not args.model_uri:
        return ServingClusterOutputs(
            endpoint=pulumi.Output.from_input(""),
            model_uri=pulumi.Output.from_input(""),
            prediction_log_uri=pulumi.Output.from_input(log_uri),
        )
    if args.balancer_image is None:
        raise ValueError("the docker serving cluster needs balancer_image")

    network = args.network or s.prefix
    alias = f"{s.prefix}-serving"
    cache = Volume(
        f"{name}-model-cache",
        name=f"{s.prefix}-model-cache",
        labels=s.labels,
        opts=pulumi.ResourceOptions(parent=component),
    )
    env: dict[str, pulumi.Input[str]] = {
        "MLFLOW_TRACKING_URI": args.tracking_uri,
        "MLOPS_MODEL_URI": args.model_uri,
        "MLOPS_HOST": "0.0.0.0",
        "MLOPS_PORT": str(PORT),
        "MLOPS_WORKERS": str(sv.workers),
        "MLOPS_MODEL_CACHE": CACHE_MOUNT,
        "MLOPS_PREDICTION_LOG": f"file://{LOG_MOUNT}",
        "MLOPS_PREDICTION_LOG_FORMAT": sv.prediction_log.format,
        "MLOPS_PREDICTION_LOG_SAMPLE": str(sv.prediction_log.sample),
        "MLOPS_EXTRA_COLUMNS": sv.extra_columns,
    }
    # The tracking server's login, to download the model: the password a file, never in the environment.
    secret_files: dict[str, pulumi.Input[str]] = {}
    login = args.tracking_credentials
    if login is not None:
        env[TRACKING_USERNAME_ENV] = login.username
        env[TRACKING_PASSWORD_FILE_ENV] = f"{SECRETS_MOUNT}/{TRACKING_PASSWORD_FILE}"
        secret_files[TRACKING_PASSWORD_FILE] = login.password
    # Each rollout gets new container names, so new replicas start (and must become ready) while the
    # old ones keep serving; Pulumi deletes the old ones only after every new one is up.
    revision = pulumi.Output.all(args.image, pulumi.Output.all(**env)).apply(
        lambda v: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:8]
    )
    replicas = [
        Container(
            f"{name}-replica-{index}",
            name=revision.apply(_replica_name(s.prefix, index)),
            image=args.image,
            network=network,
            aliases=[alias],
            labels={**s.labels, "mlops.role": "serving"},
            env=env,
            secret_files=secret_files,
            mounts=[
                {"type": "bind", "source": str(sv.prediction_log.dir), "target": LOG_MOUNT},
                {"type": "volume", "source": cache.volume_name, "target": CACHE_MOUNT},
                {"type": "tmpfs", "source": "", "target": "/tmp"},
            ],
            limits={"cpus": sv.limits.cpus, "memory_mb": sv.limits.memory_mb},
            user="10001:10001",
            healthcheck=health(f"http://127.0.0.1:{PORT}/ready", interval_s=2, retries=3),
            ready_timeout_s=sv.ready_timeout_seconds,
            opts=pulumi.ResourceOptions(parent=component),
        )
        for index in range(sv.replicas)
    ]
    balancer = Container(
        f"{name}-balancer",
        name=f"{s.prefix}-balancer",
        image=args.balancer_image,
        network=network,
        labels={**s.labels, "mlops.role": "balancer"},
        env={"MLOPS_UPSTREAM": alias},
        # The one serving endpoint, on loopback: clients on this machine only.
        ports=[{"internal": PORT, "external": sv.port, "host_ip": LOOPBACK}],
        mounts=[{"type": "tmpfs", "source": "", "target": "/run/nginx"}],
        limits={"cpus": 0.5, "memory_mb": 128},
        user="www-data",
        healthcheck=health(f"http://127.0.0.1:{PORT}/_balancer/health"),
        ready_timeout_s=60,
        # Fixed name and host port: the provider sets the old balancer aside (freeing the port) and removes it
        # once the new one is healthy, or brings it back if the new one never is.
        opts=pulumi.ResourceOptions(parent=component, depends_on=replicas),
    )
    return ServingClusterOutputs(
        endpoint=balancer.name.apply(lambda _: f"http://{LOOPBACK}:{sv.port}"),
        model_uri=pulumi.Output.from_input(args.model_uri),
        prediction_log_uri=pulumi.Output.from_input(log_uri),
    )
