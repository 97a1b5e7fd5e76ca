"""`mlops train`: `python -m ml.train` (`ml.train.command`) plus `--env`, which finds the tracking server."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops.cli.options import EnvOption, S3EndpointOption, TrackingUriOption, resolve_tracking_uri


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("train")(train)


def train(
    config_path: Path = typer.Option(
        ..., "--config", "-c", help="Training config YAML, e.g. examples/breast_cancer/train.yaml"
    ),
    env: str | None = EnvOption,
    tracking_uri: str | None = TrackingUriOption,
    s3_endpoint: str | None = S3EndpointOption,
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
    where: str | None = typer.Option(
        None,
        "--where",
        help="local: train in this process; cluster: as a job on the environment's training cluster, its log "
        "streamed here (Ctrl-C stops it). Default: the stack's mlops:training.where, else local.",
    ),
) -> None:
    """Train a model from a training config and register it in the environment's MLflow.

    The dataset is validated first: a dataset with any violation is never trained on and nothing is
    registered (exit 1). A bad config exits 2. A model that fails a gate is registered with
    gates.passed=false but does not become the `challenger` (exit 3). A job that cannot start exits 4.
    """
    from mlops.jobs.launch import train_as_job, where_for
    from mlops.stacks import EnvironmentUnavailable

    try:
        # --tracking-uri (or MLFLOW_TRACKING_URI) wins over --env: it names a server to train against here.
        chosen = where_for(None if tracking_uri and where is None else env, where)
    except (ValueError, EnvironmentUnavailable) as exc:
        raise typer.BadParameter(str(exc), param_hint="--where / --env") from exc
    if chosen == "cluster" and env is not None:
        raise typer.Exit(train_as_job(env, config_path, s3_endpoint=s3_endpoint, as_json=as_json))

    from ml.train.command import train_from_config

    uri = resolve_tracking_uri(env, tracking_uri)
    raise typer.Exit(int(train_from_config(config_path, uri, s3_endpoint=s3_endpoint, as_json=as_json)))
