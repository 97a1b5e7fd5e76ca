"""`python -m ml.train --config PATH --tracking-uri URI [--s3-endpoint URL] [--json]`: the trainer image's
entry point. The same command as `mlops train`, without `--env` (a job is told its tracking server)."""

from __future__ import annotations

from pathlib import Path

import typer

from ml.tracking_auth import configure_tracking_login
from ml.train.command import HELP, train_from_config

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command(help=HELP)
def train(
    config_path: Path = typer.Option(
        ..., "--config", "-c", help="Training config YAML, e.g. examples/breast_cancer/train.yaml"
    ),
    tracking_uri: str = typer.Option(
        ..., "--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="MLflow tracking server URI."
    ),
    s3_endpoint: str | None = typer.Option(
        None, "--s3-endpoint", envvar="AWS_ENDPOINT_URL_S3", help="S3-compatible endpoint for s3:// data."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
    job_file: Path | None = typer.Option(
        None, "--job", help="Job context JSON written by the launcher (`mlops.jobs`): job tags, git, uploaded data."
    ),
    trial: bool = typer.Option(
        False, "--trial", help="Score one trial of the config's search, the one JOB_COMPLETION_INDEX names (0-based)."
    ),
) -> None:
    from ml.train.job import JobContext

    configure_tracking_login()
    job = JobContext.load(job_file) if job_file else None
    code = train_from_config(config_path, tracking_uri, s3_endpoint=s3_endpoint, as_json=as_json, job=job, trial=trial)
    raise typer.Exit(int(code))


if __name__ == "__main__":
    app(prog_name="python -m ml.train")
