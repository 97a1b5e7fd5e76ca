"""MonitoringSchedule on docker: a scheduler container that runs the monitor on the stack's schedule.

The container runs `python -m ml.monitor --every CRON` from the trainer image: it sleeps to each tick and
runs one pass, logged as a run of the tracking server's `monitoring` experiment. It reads the serving
cluster's prediction log from the host directory the replicas write, read-only, and restarts with the engine
(`unless-stopped`), so a rebooted host keeps its schedule.

When the stack retrains from the schedule (`retrain.trainConfig`), the scheduler also gets what a retrain needs
(the environment, its `training` job spec, the model's training config and dataset spec, as files) and the
stack gets a job gate, `<prefix>-jobs` (`ml.jobs.gate`): starting a training container needs the Docker
engine's socket, and whoever holds it is root on the host, which a container that reads a log written by the
serving endpoint must not be. The gate holds the socket, reads no log, publishes no port, and starts only the
stack's training container (its image, network, limits and user, from its own copy of the job spec) for a
caller showing the token the stack generated for the two. A labels file or directory on this host
(`mlops:monitoring.labels`) is mounted read-only into the scheduler.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pulumi

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV, monitor_env
from infra.components.retrain_files import model_files
from infra.components.types import MONITOR_CPUS, MONITOR_MEMORY_MB, MonitoringScheduleArgs, MonitoringScheduleOutputs
from infra.providers.docker import Container
from infra.providers.docker.container import SECRETS_MOUNT, Mount
from infra.providers.secret import RandomSecret
from infra.settings import Settings
from infra.settings.sections import MONITOR_LOOP_KEYS

LOG_MOUNT = "/var/log/mlops/predictions"
LABELS_MOUNT = "/var/lib/mlops/labels"
ENTRYPOINT = ["python", "-m", "ml.monitor"]
ROLE = "monitor"
GATE_ROLE = "job-gate"
GATE_ENTRYPOINT = ["python", "-m", "ml.jobs.gate_server"]
GATE_CPUS, GATE_MEMORY_MB = 0.25, 256
WEBHOOK_FILE = "webhook-secret"


def engine_socket() -> tuple[str, int]:
    """The host path of the Docker engine's socket, which the job gate mounts (`DOCKER_HOST` when it is one), and
    the group that may use it, which the gate's non-root user joins."""
    host = os.environ.get("DOCKER_HOST", "") or "unix:///var/run/docker.sock"
    if host.startswith("unix://"):
        path = host.removeprefix("unix://")
        try:
            return path, os.stat(path).st_gid
        except OSError as exc:
            raise ValueError(
                f"the Docker engine's socket {path} cannot be read ({exc}): a docker stack that retrains from its "
                "schedule mounts it into its job gate; start the engine (`make setup` does) and run `up` again"
            ) from exc
    raise ValueError(
        f"DOCKER_HOST={host}: a docker stack that retrains from its schedule (mlops:monitoring.retrain.trainConfig) "
        "mounts the engine's unix socket into its job gate; run `up` on the Docker host itself, or remove "
        "retrain.trainConfig and retrain with `mlops monitor --env ENV --retrain`"
    )


def gate_url(s: Settings) -> str:
    return f"http://{s.prefix}-jobs:{monitor_env.GATE_PORT}"


def labels_mount(labels: str) -> tuple[str, Mount] | None:
    """(the labels as the scheduler reads them, the mount) for labels on this host; None for s3:// and the like."""
    parsed = urlparse(labels)
    if not labels or parsed.scheme not in ("", "file"):
        return None
    path = Path(parsed.path if parsed.scheme else labels).expanduser().resolve()
    folder = path if path.is_dir() else path.parent
    inside = LABELS_MOUNT if path.is_dir() else f"{LABELS_MOUNT}/{path.name}"
    return inside, {"type": "bind", "source": str(folder), "target": LABELS_MOUNT, "read_only": True}


def create(component: pulumi.ComponentResource, args: MonitoringScheduleArgs) -> MonitoringScheduleOutputs:
    s = args.settings
    retrains = s.monitoring.retrains and args.training_job_spec is not None
    thresholds = {k: v for k, v in s.monitoring.thresholds.items() if retrains or k not in MONITOR_LOOP_KEYS}
    mounts: list[Mount] = [
        # The replicas' log directory, read-only: the monitor reads what they wrote and changes nothing.
        {"type": "bind", "source": str(s.serving.prediction_log.dir), "target": LOG_MOUNT, "read_only": True},
        {"type": "tmpfs", "source": "", "target": "/tmp"},
    ]
    secret_files: dict[str, pulumi.Input[str]] = {}
    env: dict[str, pulumi.Input[str]] = {}
    depends: list[pulumi.Resource] = []
    if retrains:
        mounted = labels_mount(str(thresholds.get("labels") or ""))
        if mounted is not None:
            thresholds["labels"], mount = mounted
            mounts.append(mount)
        token = RandomSecret(
            f"{component.pulumi_resource_name}-gate-token", opts=pulumi.ResourceOptions(parent=component)
        )
        setup = pulumi.Output.from_input(args.training_job_spec).apply(
            lambda spec: json.dumps(
                {"environment": s.stack, "training": spec, monitor_env.GATE_KEY: gate_url(s)}, sort_keys=True
            )
        )
        depends.append(_gate(component, args, setup, token.value))
        secret_files.update(model_files(s))
        secret_files[monitor_env.RETRAIN_SETUP_FILE] = setup
        secret_files[monitor_env.RETRAIN_GATE_TOKEN] = token.value
        env[monitor_env.RETRAIN_DIR_ENV] = SECRETS_MOUNT
        if s.monitoring.webhook_url:
            assert s.secrets.webhook_secret is not None, "settings require the webhook secret with a webhook URL"
            secret_files[WEBHOOK_FILE] = s.secrets.webhook_secret
            env[monitor_env.WEBHOOK_SECRET_FILE_ENV] = f"{SECRETS_MOUNT}/{WEBHOOK_FILE}"
    env.update(
        {
            monitor_env.TRACKING_URI_ENV: args.tracking_uri,
            monitor_env.MODEL_URI_ENV: args.model_uri,
            monitor_env.PREDICTION_LOG_ENV: f"file://{LOG_MOUNT}",
            monitor_env.THRESHOLDS_ENV: json.dumps(thresholds, sort_keys=True),
            monitor_env.OUT_DIR_ENV: "/tmp/monitoring",
            "HOME": "/tmp",
        }
    )
    _login(args, env, secret_files)
    container = Container(
        f"{component.pulumi_resource_name}-scheduler",
        name=f"{s.prefix}-{ROLE}",
        image=args.image,
        entrypoint=ENTRYPOINT,
        command=["--every", s.monitoring.schedule],
        network=args.network or s.prefix,
        labels={**s.labels, "mlops.role": ROLE},
        env=env,
        secret_files=secret_files,
        mounts=mounts,
        limits={"cpus": MONITOR_CPUS, "memory_mb": MONITOR_MEMORY_MB},
        user="10001:10001",
        restart="unless-stopped",
        ready_timeout_s=60,
        opts=pulumi.ResourceOptions(parent=component, depends_on=depends),
    )
    return MonitoringScheduleOutputs(runner=container.name)


def _login(args: MonitoringScheduleArgs, env: dict[str, Any], secret_files: dict[str, pulumi.Input[str]]) -> None:
    login = args.tracking_credentials
    if login is not None:
        env[TRACKING_USERNAME_ENV] = login.username
        env[TRACKING_PASSWORD_FILE_ENV] = f"{SECRETS_MOUNT}/{TRACKING_PASSWORD_FILE}"
        secret_files[TRACKING_PASSWORD_FILE] = login.password


def _gate(
    component: pulumi.ComponentResource,
    args: MonitoringScheduleArgs,
    setup: pulumi.Output[str],
    token: pulumi.Output[str],
) -> Container:
    """The job gate: a non-root user in the socket's group, a read-only root filesystem, no published port."""
    s = args.settings
    env: dict[str, pulumi.Input[str]] = {
        monitor_env.GATE_SETUP_ENV: f"{SECRETS_MOUNT}/{monitor_env.RETRAIN_SETUP_FILE}",
        monitor_env.GATE_TOKEN_FILE_ENV: f"{SECRETS_MOUNT}/{monitor_env.RETRAIN_GATE_TOKEN}",
        "HOME": "/tmp",
    }
    secret_files: dict[str, pulumi.Input[str]] = {
        monitor_env.RETRAIN_SETUP_FILE: setup,
        monitor_env.RETRAIN_GATE_TOKEN: token,
    }
    _login(args, env, secret_files)
    socket, group = engine_socket()
    return Container(
        f"{component.pulumi_resource_name}-gate",
        name=f"{s.prefix}-jobs",
        image=args.image,
        entrypoint=GATE_ENTRYPOINT,
        network=args.network or s.prefix,
        labels={**s.labels, "mlops.role": GATE_ROLE},
        env=env,
        secret_files=secret_files,
        mounts=[
            {"type": "bind", "source": socket, "target": "/var/run/docker.sock"},
            {"type": "tmpfs", "source": "", "target": "/tmp"},
        ],
        limits={"cpus": GATE_CPUS, "memory_mb": GATE_MEMORY_MB},
        user=f"10001:{group}",
        restart="unless-stopped",
        healthcheck={
            "test": [
                "CMD",
                "python",
                "-c",
                f"import urllib.request; urllib.request.urlopen("
                f"'http://127.0.0.1:{monitor_env.GATE_PORT}/healthz', timeout=3)",
            ],
            "interval_s": 2,
            "timeout_s": 5,
            "retries": 3,
            "start_period_s": 30,
        },
        ready_timeout_s=90,
        opts=pulumi.ResourceOptions(parent=component),
    )
