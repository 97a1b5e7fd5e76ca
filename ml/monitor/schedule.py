"""The scheduled monitor: one monitoring pass configured by its environment, and a loop that runs it on a cron.

A CronJob runs one pass per tick (`python -m ml.monitor`); the docker target's scheduler container runs the
loop (`python -m ml.monitor --every CRON`), which sleeps to the next tick of the stack's schedule, runs a pass
and goes on whatever the pass found or failed with. Every pass that judges a window writes report.html and
result.json and logs them as a run of the `monitoring` experiment on the tracking server, as `mlops monitor`
does; the same thresholds, the same exit codes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract import CHAMPION, ModelRef, cron, monitor_env
from ml.monitor.thresholds import ExitCode, Thresholds

log = logging.getLogger(__name__)

DEFAULT_WINDOW = "24h"
DEFAULT_OUT = "/tmp/monitoring"


class MonitorConfigError(ValueError):
    """The scheduled monitor's environment is incomplete or wrong; the message names the variable."""


@dataclass(frozen=True)
class MonitorJob:
    """What one scheduled pass judges, against which reference, with which thresholds, and where it logs."""

    tracking_uri: str
    model: ModelRef
    log_uri: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    window: str = DEFAULT_WINDOW
    out: Path = Path(DEFAULT_OUT)
    retrain_dir: Path | None = None
    """What a retrain needs, when the stack retrains from the schedule (`ml.jobs.scheduled.RetrainSetup`)."""
    webhook_secret_file: Path | None = None
    """The file holding the secret that signs the promotion requests announced on the stack's webhook."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> MonitorJob:
        def required(name: str, what: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise MonitorConfigError(f"{name} is not set: {what}")
            return value

        tracking_uri = required(monitor_env.TRACKING_URI_ENV, "the tracking server's URI")
        model_uri = required(monitor_env.MODEL_URI_ENV, "the served model, models:/NAME@ALIAS")
        try:
            model = ModelRef.parse(model_uri)
        except ValueError as exc:
            raise MonitorConfigError(f"{monitor_env.MODEL_URI_ENV}: {exc}") from exc
        log_uri = required(monitor_env.PREDICTION_LOG_ENV, "the prediction log, file:///path or s3://bucket/prefix")
        raw = environ.get(monitor_env.THRESHOLDS_ENV, "").strip() or "{}"
        try:
            section = json.loads(raw)
        except ValueError as exc:
            raise MonitorConfigError(f"{monitor_env.THRESHOLDS_ENV} is not JSON: {exc}") from exc
        secret_file = environ.get(monitor_env.WEBHOOK_SECRET_FILE_ENV, "").strip()
        if secret_file and isinstance(section, dict):
            # The webhook secret is mounted, never in the section; it stands there as the stack file holds it
            # (encrypted, never read), so the section parses as `mlops monitor --env` parses the stack's.
            section = {**section, "webhookSecret": {"secure": f"mounted at {secret_file}"}}
        return cls(
            tracking_uri=tracking_uri,
            model=model,
            log_uri=log_uri,
            thresholds=Thresholds.from_config(section),
            window=environ.get(monitor_env.WINDOW_ENV, "").strip() or DEFAULT_WINDOW,
            out=Path(environ.get(monitor_env.OUT_DIR_ENV, "").strip() or DEFAULT_OUT),
            retrain_dir=Path(where) if (where := environ.get(monitor_env.RETRAIN_DIR_ENV, "").strip()) else None,
            webhook_secret_file=Path(secret_file) if secret_file else None,
        )


def run_once(job: MonitorJob, now: datetime | None = None) -> tuple[ExitCode, dict[str, Any]]:
    """One pass: judge the window that ends now, write the reports, log the run. Raises on errors."""
    from ml.mlflow_log import run_links_off_stdout
    from ml.monitor import logsource, report
    from ml.monitor.history import log_monitoring_run
    from ml.monitor.judge import MonitorRequest, monitor_log
    from ml.monitor.quality import load_labels
    from ml.monitor.reference import fetch_reference

    registered = fetch_reference(
        job.tracking_uri, job.model.name, version=job.model.version, alias=job.model.alias or CHAMPION
    )
    request = MonitorRequest(
        profile=registered.profile,
        model=job.model.name,
        thresholds=job.thresholds,
        window=logsource.parse_window(job.window, now=now),
        model_version=registered.version,
        task=registered.task,
        labels=load_labels(job.thresholds.labels) if job.thresholds.labels else None,
        registered_metrics=registered.metrics,
    )
    outcome = monitor_log(request, job.log_uri)
    result = outcome.to_dict()
    job.out.mkdir(parents=True, exist_ok=True)
    (job.out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    (job.out / "report.html").write_text(report.render_html(result))
    with run_links_off_stdout():
        result["tracking_run_id"] = log_monitoring_run(
            job.tracking_uri, result, [job.out / "result.json", job.out / "report.html"]
        )
    log.info(
        "monitoring run %s of %s version %s: %s, %d rows, drifted: %s",
        result["tracking_run_id"],
        job.model.name,
        registered.version,
        result["status"],
        result["rows"],
        ", ".join(result["drifted_features"]) or "none",
    )
    if job.retrain_dir is not None:
        retrain_after(job, outcome, result["tracking_run_id"])
    return outcome.exit_code, result


def retrain_after(job: MonitorJob, outcome: Any, monitoring_run_id: str) -> None:
    """The loop's turn after a pass, when the stack retrains; a failure is logged, the pass's finding stands."""
    from ml.jobs.scheduled import RetrainSetup
    from ml.monitor.scheduled_retrain import retrain_after_pass

    assert job.retrain_dir is not None
    try:
        setup = RetrainSetup.load(job.retrain_dir)
        turn = retrain_after_pass(
            outcome,
            monitoring_run_id,
            tracking_uri=job.tracking_uri,
            log_uri=job.log_uri,
            setup=setup,
            webhook_secret_file=job.webhook_secret_file,
        )
    except Exception:  # the monitoring run is logged already; a retrain that cannot start must not hide it
        log.exception("retrain of %s after monitoring run %s failed", job.model.name, monitoring_run_id)
        return
    log.info("retrain of %s: %s", job.model.name, turn)


def run_guarded(job: MonitorJob) -> ExitCode:
    """One pass whose failure is logged and answered with exit code 1, never raised."""
    try:
        return run_once(job)[0]
    except (ValueError, LookupError, OSError) as exc:
        log.error("monitoring pass of %s failed: %s", job.model.name, exc)
    except Exception:  # a scheduler outlives one bad pass (an MLflow or Arrow error of any kind)
        log.exception("monitoring pass of %s failed", job.model.name)
    return ExitCode.ERROR


@dataclass
class Clock:
    """Time and sleep, for the loop; `stop` ends a sleep (and the loop) early, e.g. on SIGTERM."""

    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    stop: threading.Event = field(default_factory=threading.Event)

    def sleep_until(self, moment: datetime) -> bool:
        """Sleep until `moment`; False when stopped first."""
        while not self.stop.is_set():
            left = (moment - self.now()).total_seconds()
            if left <= 0:
                return True
            self.stop.wait(min(left, 30.0))
        return False


def run_every(
    schedule: str,
    job: MonitorJob,
    *,
    at_start: bool = False,
    clock: Clock | None = None,
    max_runs: int | None = None,
    run: Callable[[MonitorJob], ExitCode] = run_guarded,
) -> int:
    """Run `job` on every tick of `schedule` (and once at start with `at_start`) until stopped; the number of
    passes run. A pass that overruns the next tick skips it: ticks are never queued up."""
    clock = clock or Clock()
    expression = cron.parse(schedule)
    runs = 0
    if at_start:
        run(job)
        runs += 1
    while not clock.stop.is_set() and (max_runs is None or runs < max_runs):
        tick = expression.next_after(clock.now())
        log.info("next monitoring pass of %s at %s (%s)", job.model.name, tick.isoformat(), schedule)
        if not clock.sleep_until(tick):
            break
        started = time.monotonic()
        run(job)
        runs += 1
        log.info("monitoring pass took %.1f s", time.monotonic() - started)
    return runs
