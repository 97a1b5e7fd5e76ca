"""The scheduled monitor (`python -m ml.monitor`): its environment, its loop, and the container's command run
for real against a real MLflow server and a prediction log on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contract import ModelRef, monitor_env
from ml.monitor.schedule import Clock, MonitorConfigError, MonitorJob, run_every
from ml.monitor.thresholds import ExitCode
from tests.support.drift_data import log_frame, make_frame, write_log
from tests.support.paths import REPO

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


@pytest.mark.integration
def test_the_scheduler_command_logs_a_monitoring_run_on_every_tick(
    mlflow_server: str, registered_reference: tuple[str, str], tmp_path: Path
) -> None:
    """What the docker target's scheduler container runs, as a process: `python -m ml.monitor --every CRON`, the
    schedule shortened to every minute (and a pass at start), until SIGTERM."""
    name, version = registered_reference
    start = datetime.now(UTC) - timedelta(minutes=30)
    write_log(
        tmp_path / "log", log_frame(make_frame(600, seed=7, shift={"age": 0.8}), model=name, start=start), model=name
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        monitor_env.TRACKING_URI_ENV: mlflow_server,
        monitor_env.MODEL_URI_ENV: f"models:/{name}@champion",
        monitor_env.PREDICTION_LOG_ENV: f"file://{tmp_path / 'log'}",
        monitor_env.THRESHOLDS_ENV: json.dumps({"minRows": 100}),
        monitor_env.WINDOW_ENV: "2h",
        monitor_env.OUT_DIR_ENV: str(tmp_path / "out"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ml.monitor", "--every", "* * * * *", "--at-start"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 150
        while len(_monitoring_runs(mlflow_server, name)) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0]
            time.sleep(2)
        runs = _monitoring_runs(mlflow_server, name)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert len(runs) >= 2, output
    for run in runs:
        assert run["model.version"] == version and run["monitor.status"] == "drift" and run["rows"] == "600.0", run
    assert process.returncode == 0, output
    assert output.count("monitoring run ") >= 2 and "drifted: age" in output, output
    assert "signal 15: stopping the schedule" in output
    # The first pass ran at start, the second on a minute's tick, not right after the first.
    ends = sorted(datetime.fromisoformat(run["window.end"]) for run in runs)
    assert ends[1] - ends[0] >= timedelta(seconds=15) and ends[1].second < 45, ends
