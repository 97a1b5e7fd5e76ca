"""`python -m ml.monitor [--every CRON] [--at-start]`: the scheduled monitor, as the trainer image runs it.

Configured by the environment the Pulumi program gives its CronJob or scheduler container
(`contract.monitor_env`): the tracking server, the served model, the prediction log, the stack's thresholds.
Without `--every`, one pass whose exit code is `mlops monitor`'s (0 healthy, 3 drift, 4 quality decay, 5 data
quality, 1 error). With it, a pass on every tick of the cron until SIGTERM; a pass that fails is logged and
the next tick comes anyway.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

import typer

from contract import cron, monitor_env
from ml.monitor.thresholds import EXIT_CODES_HELP, ExitCode

HELP = (
    "The scheduled monitor: judge the served model's prediction log against its registered reference and log a "
    "run of the 'monitoring' experiment, configured by the environment (contract.monitor_env). Without --every, "
    "one pass; with it, a pass on every tick until SIGTERM.\n\n"
)

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command(help=HELP + EXIT_CODES_HELP)
def main(
    every: str | None = typer.Option(
        None,
        "--every",
        envvar=monitor_env.SCHEDULE_ENV,
        help=f"Run on this schedule until stopped: {cron.HELP}.",
    ),
    at_start: bool = typer.Option(False, "--at-start", help="With --every: run one pass at once, then on schedule."),
) -> None:
    from ml.monitor.schedule import Clock, MonitorConfigError, MonitorJob, run_every, run_guarded
    from ml.tracking_auth import TrackingLoginError, configure_tracking_login

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        configure_tracking_login()
        job = MonitorJob.from_environ(os.environ)
        if every:
            cron.parse(every)
    except (MonitorConfigError, TrackingLoginError, cron.CronError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(int(ExitCode.ERROR)) from exc
    if not every:
        raise typer.Exit(int(run_guarded(job)))
    clock = Clock()

    def stop(signum: int, _frame: FrameType | None) -> None:
        # As PID 1 of a container the process gets no default SIGTERM action: without this `docker stop` waits
        # out its timeout and kills.
        logging.getLogger(__name__).info("signal %d: stopping the schedule", signum)
        clock.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    run_every(every, job, at_start=at_start, clock=clock)


if __name__ == "__main__":
    app(prog_name="python -m ml.monitor")
