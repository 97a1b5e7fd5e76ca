"""MonitoringSchedule on docker: a scheduler container that runs the monitor on the stack's schedule.

The container runs `python -m ml.monitor --every CRON` from the trainer image: it sleeps to each tick and
runs one pass, logged as a run of the tracking server's `monitoring` experiment. It reads the serving
cluster's prediction log from the host directory the replicas write, read-only, and restarts with the engine
(`unless-stopped`), so a rebooted host keeps its schedule.

It judges and logs only, even when the stack retrains from the schedule (`retrain.trainConfig`): starting a
training container needs the Docker engine's API, and whoever holds that socket is root on the host, which a
container that reads a prediction log written by the serving endpoint must not be. `mlops monitor --env ENV
--retrain` (by hand, or `.github/workflows/monitor.yml` on the same cron) runs the retrain on docker stacks.
"""

from __future__ import annotations

import json

import pulumi

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV, monitor_env
from infra.components.types import MONITOR_CPUS, MONITOR_MEMORY_MB, MonitoringScheduleArgs, MonitoringScheduleOutputs
from infra.providers.docker import Container
from infra.providers.docker.container import SECRETS_MOUNT
from infra.settings.sections import MONITOR_LOOP_KEYS

LOG_MOUNT = "/var/log/mlops/predictions"
ENTRYPOINT = ["python", "-m", "ml.monitor"]
ROLE = "monitor"


def create(component: pulumi.ComponentResource, args: MonitoringScheduleArgs) -> MonitoringScheduleOutputs:
    s = args.settings
    if s.monitoring.retrains:
        pulumi.log.warn(
            f"stack '{s.stack}': the docker scheduler judges and logs only; it does not retrain (that needs the "
            "Docker engine's socket, root on the host): run `mlops monitor --env ENV --retrain` for the retrain"
        )
    thresholds = {k: v for k, v in s.monitoring.thresholds.items() if k not in MONITOR_LOOP_KEYS}
    env: dict[str, pulumi.Input[str]] = {
        monitor_env.TRACKING_URI_ENV: args.tracking_uri,
        monitor_env.MODEL_URI_ENV: args.model_uri,
        monitor_env.PREDICTION_LOG_ENV: f"file://{LOG_MOUNT}",
        monitor_env.THRESHOLDS_ENV: json.dumps(thresholds, sort_keys=True),
        monitor_env.OUT_DIR_ENV: "/tmp/monitoring",
        "HOME": "/tmp",
    }
    secret_files: dict[str, pulumi.Input[str]] = {}
    login = args.tracking_credentials
    if login is not None:
        env[TRACKING_USERNAME_ENV] = login.username
        env[TRACKING_PASSWORD_FILE_ENV] = f"{SECRETS_MOUNT}/{TRACKING_PASSWORD_FILE}"
        secret_files[TRACKING_PASSWORD_FILE] = login.password
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
        mounts=[
            # The replicas' log directory, read-only: the monitor reads what they wrote and changes nothing.
            {"type": "bind", "source": str(s.serving.prediction_log.dir), "target": LOG_MOUNT, "read_only": True},
            {"type": "tmpfs", "source": "", "target": "/tmp"},
        ],
        limits={"cpus": MONITOR_CPUS, "memory_mb": MONITOR_MEMORY_MB},
        user="10001:10001",
        restart="unless-stopped",
        ready_timeout_s=60,
        opts=pulumi.ResourceOptions(parent=component),
    )
    return MonitoringScheduleOutputs(runner=container.name)
