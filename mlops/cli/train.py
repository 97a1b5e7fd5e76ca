"""`mlops train`: validate the data, fit, evaluate, gate, track and register one model version."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from mlops.cli.options import EnvOption, S3EndpointOption, TrackingUriOption, resolve_tracking_uri

log = logging.getLogger(__name__)

EXIT_INVALID_DATA = 1
EXIT_BAD_CONFIG = 2
EXIT_GATES_FAILED = 3


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
) -> None:
    """Train a model from a training config and register it in the environment's MLflow.

    The dataset is validated first: a dataset with any violation is never trained on and nothing is
    registered (exit 1). A bad config exits 2. A model that fails a gate is registered with
    gates.passed=false but does not become the `challenger` (exit 3).
    """
    from rich.console import Console

    from ml.data import DataSourceError
    from ml.spec import SpecError
    from ml.train import run_training
    from ml.training_config import load_config_and_spec
    from ml.validate import DataValidationError

    console = Console(stderr=True)
    uri = resolve_tracking_uri(env, tracking_uri)
    try:
        config, spec = load_config_and_spec(config_path)
    except SpecError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_CONFIG) from exc

    def progress(message: str) -> None:
        console.print(f"[dim]-[/dim] {message}", highlight=False)

    try:
        with _quiet_mlflow_stdout():
            result = run_training(config, spec, uri, s3_endpoint=s3_endpoint, progress=progress)
    except DataValidationError as exc:
        console.print(f"[red]refused:[/red] {exc}", highlight=False)
        for violation in exc.report.violations:
            console.print(f"  - {violation.kind} {violation.column or ''}: {violation.message}", highlight=False)
        console.print("nothing was trained or registered", style="red")
        raise typer.Exit(EXIT_INVALID_DATA) from exc
    except (SpecError, DataSourceError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_CONFIG) from exc

    summary: dict[str, Any] = {
        "run_id": result.run_id,
        "model_name": result.model_name,
        "version": result.version,
        "model_uri": result.model_uri,
        "challenger": result.challenger,
        "data_sha256": result.data_sha256,
        "metrics": {f"test_{k}": v for k, v in result.metrics.items()},
        "gates_passed": result.gates_passed,
        "gates": [g.to_dict() for g in result.gates],
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        _print_summary(summary, uri)
    if not result.gates_passed:
        raise typer.Exit(EXIT_GATES_FAILED)


@contextmanager
def _quiet_mlflow_stdout() -> Iterator[None]:
    """MLflow writes run URLs to stdout when a run ends; stdout is ours (the summary, or pure JSON)."""
    key = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
    previous = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


def _print_summary(summary: dict[str, Any], uri: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    alias = "challenger" if summary["challenger"] else "no alias (a gate failed)"
    console.print(
        f"[bold]{summary['model_name']}[/bold] version [bold]{summary['version']}[/bold] ({alias}), "
        f"run {summary['run_id']} on {uri}",
        highlight=False,
    )
    metrics = Table("metric", "value", title="held-out metrics")
    for key, value in summary["metrics"].items():
        metrics.add_row(key, f"{value:.4f}")
    console.print(metrics)
    gates = Table("gate", "result", "value", "threshold", "detail", title="gates")
    for gate in summary["gates"]:
        value = "-" if gate["value"] is None else f"{gate['value']:.4f}"
        verdict = "[green]pass[/green]" if gate["passed"] else "[red]FAIL[/red]"
        gates.add_row(gate["name"], verdict, value, str(gate["threshold"]), gate["detail"])
    console.print(gates)
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in summary["timings_s"].items())
    console.print(f"timings: {timings}", highlight=False)
