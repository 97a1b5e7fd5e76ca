"""`mlops serve`: the model server for one registered model version.

Every option mirrors an env var of the server container (docs/architecture.md); an option given on the
command line wins over the env var. Heavy imports stay inside the command so `mlops --help` stays fast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("serve")(serve)


def serve(
    model_uri: str | None = typer.Option(
        None, "--model-uri", help="models:/NAME@ALIAS or models:/NAME/VERSION (env MLOPS_MODEL_URI)"
    ),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow tracking server to load the model from (env MLFLOW_TRACKING_URI)"
    ),
    env: str | None = typer.Option(
        None, "--env", help="Take the tracking URI, model URI and prediction log from this environment's stack outputs"
    ),
    host: str | None = typer.Option(None, "--host", help="Bind address (env MLOPS_HOST, default 127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", help="Port (env MLOPS_PORT, default 8080)"),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (env MLOPS_WORKERS, default 1)"),
    model_cache: Path | None = typer.Option(
        None, "--model-cache", help="Local model cache, used when the tracking server is down (env MLOPS_MODEL_CACHE)"
    ),
    prediction_log: str | None = typer.Option(
        None, "--prediction-log", help="file:///path or s3://bucket/prefix; empty disables (env MLOPS_PREDICTION_LOG)"
    ),
    prediction_log_format: str | None = typer.Option(
        None, "--prediction-log-format", help="jsonl or parquet (env MLOPS_PREDICTION_LOG_FORMAT)"
    ),
    prediction_log_sample: float | None = typer.Option(
        None, "--prediction-log-sample", help="Fraction of requests logged, 0..1 (env MLOPS_PREDICTION_LOG_SAMPLE)"
    ),
    extra_columns: str | None = typer.Option(
        None, "--extra-columns", help="reject or ignore columns not in the signature (env MLOPS_EXTRA_COLUMNS)"
    ),
    max_rows: int | None = typer.Option(None, "--max-rows", help="Largest batch accepted (env MLOPS_MAX_ROWS)"),
    max_body_bytes: int | None = typer.Option(
        None, "--max-body-bytes", help="Largest request body accepted (env MLOPS_MAX_BODY_BYTES)"
    ),
    fast_path: bool | None = typer.Option(
        None, "--fast-path/--no-fast-path", help="Numpy fast path for known sklearn pipelines (env MLOPS_FAST_PATH)"
    ),
    access_log: bool | None = typer.Option(
        None, "--access-log/--no-access-log", help="Log every request (env MLOPS_ACCESS_LOG)"
    ),
) -> None:
    """Serve one registered model over HTTP: /predict, /health, /ready, /metadata, /metrics, /openapi.json."""
    overrides: dict[str, Any] = {
        "model_uri": model_uri,
        "tracking_uri": tracking_uri,
        "host": host,
        "port": port,
        "workers": workers,
        "model_cache": model_cache,
        "prediction_log": prediction_log,
        "prediction_log_format": prediction_log_format,
        "prediction_log_sample": prediction_log_sample,
        "extra_columns": extra_columns,
        "max_rows": max_rows,
        "max_body_bytes": max_body_bytes,
        "fast_path": fast_path,
        "access_log": access_log,
    }
    if env:
        overrides = {**_from_environment(env), **{k: v for k, v in overrides.items() if v is not None}}

    from ml.serve.loader import ModelLoadError
    from ml.serve.runner import run_server
    from ml.serve.settings import SettingsError

    try:
        run_server(overrides)
    except (SettingsError, ModelLoadError, ValueError) as exc:
        typer.echo(f"mlops serve: {exc}", err=True)
        raise typer.Exit(2) from exc


def _from_environment(name: str) -> dict[str, Any]:
    from mlops.stacks import EnvironmentUnavailable, resolve

    try:
        environment = resolve(name)
    except EnvironmentUnavailable as exc:
        typer.echo(f"mlops serve: {exc}", err=True)
        raise typer.Exit(2) from exc
    outputs = environment.outputs
    return {
        "tracking_uri": environment.tracking_uri,
        "model_uri": outputs.get("serving_model_uri") or None,
        "prediction_log": outputs.get("prediction_log_uri") or None,
    }
