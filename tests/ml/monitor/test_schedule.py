"""The scheduled monitor (`python -m ml.monitor`): its environment, its loop, and the docker target's scheduler
container run for real against a real MLflow server and a prediction log on disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contract import ModelRef, monitor_env
from ml.monitor.schedule import Clock, MonitorConfigError, MonitorJob, run_every
from ml.monitor.thresholds import ExitCode
from tests.support.drift_data import log_frame, make_frame, write_log

ENV = {
    monitor_env.TRACKING_URI_ENV: "http://mlops-x-tracking:5000",
    monitor_env.MODEL_URI_ENV: "models:/churn/4",
    monitor_env.PREDICTION_LOG_ENV: "file:///var/log/mlops/predictions",
    monitor_env.THRESHOLDS_ENV: json.dumps({"psiThreshold": 0.3, "minRows": 50}),
}


def test_the_job_comes_from_the_environment() -> None:
    job = MonitorJob.from_environ({**ENV, monitor_env.WINDOW_ENV: "2h", monitor_env.OUT_DIR_ENV: "/tmp/m"})
    assert job.model == ModelRef("churn", version="4") and job.log_uri == "file:///var/log/mlops/predictions"
    assert job.thresholds.psi_threshold == 0.3 and job.thresholds.min_rows == 50
    assert job.window == "2h" and job.out == Path("/tmp/m")
    defaults = MonitorJob.from_environ({k: v for k, v in ENV.items() if k != monitor_env.THRESHOLDS_ENV})
    assert defaults.thresholds.psi_threshold == 0.2 and defaults.window == "24h"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({monitor_env.MODEL_URI_ENV: ""}, "MLOPS_MONITOR_MODEL_URI is not set: the served model"),
        ({monitor_env.MODEL_URI_ENV: "churn"}, "MLOPS_MONITOR_MODEL_URI: 'churn' is not a registry model reference"),
        ({monitor_env.PREDICTION_LOG_ENV: " "}, "MLOPS_MONITOR_PREDICTION_LOG is not set"),
        ({monitor_env.THRESHOLDS_ENV: "{psi"}, "MLOPS_MONITOR_THRESHOLDS is not JSON"),
        ({monitor_env.THRESHOLDS_ENV: '{"psiTreshold": 0.3}'}, "did you mean 'psiThreshold'"),
    ],
)
def test_a_bad_environment_names_the_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        MonitorJob.from_environ({**ENV, **change})
    assert message in str(caught.value)
    assert isinstance(caught.value, MonitorConfigError) or "monitoring" in str(caught.value)


def test_the_thresholds_the_program_hands_on_are_the_ones_the_monitor_judges_with() -> None:
    from infra.settings.sections import MONITOR_THRESHOLD_KEYS
    from ml.monitor.thresholds import Thresholds

    numbers = {name for name, info in Thresholds.model_fields.items() if info.annotation in (float, int)}
    keys = {info.validation_alias or info.alias for name, info in Thresholds.model_fields.items() if name in numbers}
    assert set(MONITOR_THRESHOLD_KEYS) == keys


class SteppingClock(Clock):
    """Time that jumps to whatever the loop sleeps until: the loop's arithmetic without waiting for the wall clock
    (the real command, with real time, is the last test of this file)."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self.current = start
        self.now = lambda: self.current

    def sleep_until(self, moment: datetime) -> bool:
        self.current = max(self.current, moment)
        return not self.stop.is_set()


def test_the_loop_runs_on_every_tick_and_survives_a_failing_pass() -> None:
    clock = SteppingClock(datetime(2026, 12, 3, 7, 50, tzinfo=UTC))
    seen: list[datetime] = []

    def run(_job: MonitorJob) -> ExitCode:
        seen.append(clock.current)
        clock.current += timedelta(minutes=2)  # a pass takes time
        return ExitCode.ERROR if len(seen) == 2 else ExitCode.DRIFT

    runs = run_every("*/15 * * * *", MonitorJob.from_environ(ENV), clock=clock, max_runs=4, run=run)
    assert runs == 4
    assert [t.strftime("%H:%M") for t in seen] == ["08:00", "08:15", "08:30", "08:45"]


def test_a_pass_that_overruns_skips_the_ticks_it_missed() -> None:
    clock = SteppingClock(datetime(2026, 12, 3, 7, 59, tzinfo=UTC))
    seen: list[str] = []

    def run(_job: MonitorJob) -> ExitCode:
        seen.append(clock.current.strftime("%H:%M"))
        clock.current += timedelta(minutes=25)
        return ExitCode.HEALTHY

    run_every("*/10 * * * *", MonitorJob.from_environ(ENV), at_start=True, clock=clock, max_runs=3, run=run)
    assert seen == ["07:59", "08:30", "09:00"]


def test_stop_ends_a_real_sleep_at_once() -> None:
    clock = Clock()
    threading.Timer(0.2, clock.stop.set).start()
    started = time.monotonic()
    runs = run_every("0 0 1 1 *", MonitorJob.from_environ(ENV), clock=clock, run=lambda _job: ExitCode.HEALTHY)
    assert runs == 0 and time.monotonic() - started < 5


@pytest.fixture
def registered_reference(mlflow_server: str, reference_profile: dict, model_name: str) -> tuple[str, str]:
    """A registered version whose run carries a reference profile, aliased champion (no model files: a pass reads
    only the profile, the metrics and the task)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run = client.create_run(client.create_experiment(f"{model_name}-training"))
    client.log_metric(run.info.run_id, "test_accuracy", 0.97)
    client.log_dict(run.info.run_id, reference_profile, "reference_profile.json")
    client.set_terminated(run.info.run_id)
    client.create_registered_model(model_name)
    version = client.create_model_version(
        model_name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags={"task": "binary"}
    )
    client.set_registered_model_alias(model_name, "champion", version.version)
    return model_name, str(version.version)


def _monitoring_runs(tracking_uri: str, model: str) -> list[dict[str, str]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("monitoring")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`model.name` = '{model}'")
    return [{**run.data.tags, "run_id": run.info.run_id, "rows": str(run.data.metrics.get("rows"))} for run in runs]


WAITING = "next monitoring pass of"
"""What the scheduler logs when it sleeps until the next tick."""


def _finished(runs: list[dict[str, str]]) -> list[dict[str, str]]:
    return [run for run in runs if run["rows"] != "None"]


def _one_pass(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml.monitor"],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_one_pass_without_its_environment_names_what_is_missing() -> None:
    result = _one_pass({k: v for k, v in ENV.items() if k != monitor_env.PREDICTION_LOG_ENV})
    assert result.returncode == 1
    assert "error: MLOPS_MONITOR_PREDICTION_LOG is not set" in result.stderr


@pytest.mark.integration
def test_one_pass_as_the_cronjob_runs_it_exits_with_the_finding(
    mlflow_server: str, registered_reference: tuple[str, str], tmp_path: Path
) -> None:
    """`python -m ml.monitor` without --every, the CronJob's command: one pass, logged, its exit code the finding's."""
    name, version = registered_reference
    start = datetime.now(UTC) - timedelta(minutes=30)
    write_log(
        tmp_path / "log", log_frame(make_frame(600, seed=5, shift={"age": 0.8}), model=name, start=start), model=name
    )
    env = {
        monitor_env.TRACKING_URI_ENV: mlflow_server,
        monitor_env.MODEL_URI_ENV: f"models:/{name}/{version}",
        monitor_env.PREDICTION_LOG_ENV: f"file://{tmp_path / 'log'}",
        monitor_env.THRESHOLDS_ENV: json.dumps({"minRows": 100}),
        monitor_env.OUT_DIR_ENV: str(tmp_path / "out"),
    }
    result = _one_pass(env)
    assert result.returncode == int(ExitCode.DRIFT), result.stderr
    (run,) = _monitoring_runs(mlflow_server, name)
    assert run["monitor.status"] == "drift" and run["model.version"] == version and run["rows"] == "600.0"
    assert f"monitoring run {run['run_id']} of {name} version {version}: drift" in result.stderr
    assert json.loads((tmp_path / "out" / "result.json").read_text())["drifted_features"] == ["age"]


SCHEDULER_STACK = "sched-test"
"""The stack label and image prefix of the scheduler container test: nothing of a real stack is touched."""


def _scheduler_props(name: str, version: str, image: str, log_dir: Path, tracking_uri: str) -> dict[str, Any]:
    """The scheduler container exactly as the docker target declares it for a stack whose schedule is shortened
    to every minute (rendered under Pulumi mocks), pointed at this test's image, tracking server and log."""
    from tests.support.pulumi_mocks import run_program, stack_config

    config = stack_config("local")
    config["monitoring"] = {**config["monitoring"], "schedule": "* * * * *", "minRows": 100}
    run = run_program(SCHEDULER_STACK, config, resolved_model=f"models:/{name}/{version}")
    (props,) = [c for c in run.of_kind("docker:Container") if c["name"] == f"mlops-{SCHEDULER_STACK}-monitor"]
    (log_mount,) = [m for m in props["mounts"] if m["type"] == "bind"]
    log_mount["source"] = str(log_dir)
    return {
        **props,
        "image": image,
        # The test's MLflow server listens on this machine's loopback; the stack's container reaches its own
        # tracking container by name on the stack network instead.
        "network": "host",
        "env": {**props["env"], monitor_env.TRACKING_URI_ENV: tracking_uri, monitor_env.WINDOW_ENV: "2h"},
        # And a first pass at once, so two passes take one minute, not two.
        "command": [*props["command"], "--at-start"],
    }


@pytest.fixture
def scheduler_image() -> Iterator[str]:
    import docker

    try:
        docker.from_env().ping()
    except Exception as exc:  # no engine, no socket, no permission
        pytest.skip(f"no Docker engine answers: {exc}")
    from tests.mlops.jobs.images import remove_images, trainer_images

    _, trainer = trainer_images(prefix=f"mlops-{SCHEDULER_STACK}", label=SCHEDULER_STACK)
    yield trainer
    remove_images(SCHEDULER_STACK)


@pytest.mark.integration
def test_the_scheduler_container_logs_a_monitoring_run_on_every_tick(
    mlflow_server: str, registered_reference: tuple[str, str], scheduler_image: str
) -> None:
    """The docker target's scheduler container, for real: the trainer image, `python -m ml.monitor --every CRON`
    with the schedule shortened to every minute, the prediction log mounted read-only, a real MLflow server.
    Two passes are logged; killed, the engine restarts it; stopped, it ends at once and cleanly."""
    import docker

    from infra.providers.docker.container import ContainerProvider

    name, version = registered_reference
    log_dir = Path(tempfile.mkdtemp(prefix="mlops-sched-log-"))
    start = datetime.now(UTC) - timedelta(minutes=30)
    write_log(log_dir, log_frame(make_frame(600, seed=7, shift={"age": 0.8}), model=name, start=start), model=name)
    for path in [log_dir, *log_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # the container's user is 10001, not this one
    props = _scheduler_props(name, version, scheduler_image, log_dir, mlflow_server)
    props["name"] = f"{props['name']}-{uuid.uuid4().hex[:6]}"
    provider = ContainerProvider()
    created = provider.create(props)
    container = docker.from_env().containers.get(created.id)
    try:
        deadline = time.monotonic() + 150
        # A run is listed as soon as it starts, before its metrics are logged: count only finished ones.
        while len(_finished(_monitoring_runs(mlflow_server, name))) < 2 and time.monotonic() < deadline:
            container.reload()
            assert container.status == "running", container.logs().decode()
            time.sleep(2)
        runs = _finished(_monitoring_runs(mlflow_server, name))
        logs = container.logs().decode()
        assert len(runs) >= 2, logs
        for run in runs:
            assert run["model.version"] == version and run["monitor.status"] == "drift" and run["rows"] == "600.0"
        assert logs.count("monitoring run ") >= 2 and "drifted: age" in logs, logs
        # The first pass ran at start, the second on a minute's tick, not right after the first.
        ends = sorted(datetime.fromisoformat(run["window.end"]) for run in runs)
        next_minute = ends[0].replace(second=0, microsecond=0) + timedelta(minutes=1)
        assert ends[1] >= next_minute and ends[1].second < 45, ends
        config = container.attrs["HostConfig"]
        assert config["ReadonlyRootfs"] is True and config["RestartPolicy"]["Name"] == "unless-stopped"
        assert container.attrs["Config"]["User"] == "10001:10001"
        assert container.attrs["Config"]["Entrypoint"] == ["python", "-m", "ml.monitor"]

        # A crash (its process killed from outside; `docker kill` would count as a deliberate stop): the engine
        # brings the schedule back, as it does after a reboot.
        waits_before = container.logs().decode().count(WAITING)
        os.kill(container.attrs["State"]["Pid"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            container.reload()
            if container.attrs["RestartCount"] >= 1 and container.status == "running":
                break
            time.sleep(1)
        assert container.attrs["RestartCount"] >= 1 and container.status == "running"

        # The restarted process has installed its SIGTERM handler (before anything else) and finished its pass at
        # start once it says when the next one is; a stop before that would wait for the pass or be ignored.
        deadline = time.monotonic() + 120
        while container.logs().decode().count(WAITING) <= waits_before and time.monotonic() < deadline:
            time.sleep(1)
        assert container.logs().decode().count(WAITING) > waits_before, container.logs().decode()[-2000:]
        started = time.monotonic()
        container.stop(timeout=20)
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()[-2000:]
        assert time.monotonic() - started < 15
        assert "signal 15: stopping the schedule" in container.logs().decode()
    finally:
        provider.delete(created.id, props)
        shutil.rmtree(log_dir, ignore_errors=True)
