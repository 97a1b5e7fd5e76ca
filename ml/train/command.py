"""One training from a config file, as a command: progress on stderr, the summary on stdout, an exit code.

`python -m ml.train` (the trainer image) and `mlops train` (which only adds `--env` to find the tracking
server) both call `train_from_config`, so both report and exit the same way.
"""

from __future__ import annotations

import json
import sys
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract import CHALLENGER
from ml.mlflow_log import run_links_off_stdout

if TYPE_CHECKING:
    from ml.train.job import JobContext


class TrainExit(IntEnum):
    """Exit codes of a training command."""

    OK = 0
    INVALID_DATA = 1
    """The dataset broke its spec: nothing was trained or registered."""
    BAD_CONFIG = 2
    """The training config or dataset spec cannot be used, or the data cannot be read."""
    GATES_FAILED = 3
    """Registered with gates.passed=false, without the `challenger` alias."""
    TRIAL_FAILED = 5
    """`--trial`: this trial of the search failed; recorded on its run (the others go on)."""


HELP = (
    "Train a model from a training config and register it in MLflow.\n\n"
    "The dataset is validated first: a dataset with any violation is never trained on and nothing is "
    "registered (exit 1). A bad config exits 2. A model that fails a gate is registered with "
    f"gates.passed=false but does not become the `{CHALLENGER}` (exit 3)."
)


def train_from_config(
    config_path: Path,
    tracking_uri: str,
    *,
    s3_endpoint: str | None = None,
    as_json: bool = False,
    job: JobContext | None = None,
    trial: bool = False,
) -> TrainExit:
    """Load the config and its dataset spec, train, print the outcome; returns the exit code.

    `job`: what a launcher told this training job about itself (`python -m ml.train --job FILE`).
    `trial`: score only this job's trial of the search (`ml.train.trials`), register nothing."""
    from rich.console import Console

    from ml.data import DataSourceError
    from ml.spec import SpecError
    from ml.train import run_training
    from ml.training_config import load_config_and_spec
    from ml.validate import DataValidationError

    console = Console(stderr=True)
    try:
        config, spec = load_config_and_spec(config_path)
    except SpecError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return TrainExit.BAD_CONFIG

    def progress(message: str) -> None:
        console.print(f"[dim]-[/dim] {message}", highlight=False)

    try:
        with run_links_off_stdout():
            if trial:
                from ml.train.job import JobContext
                from ml.train.trials import run_trial

                context = job or JobContext()
                ok = run_trial(config, spec, tracking_uri, context, say=progress, s3_endpoint=s3_endpoint)
                return TrainExit.OK if ok else TrainExit.TRIAL_FAILED
            data = job.fetch_data(spec, tracking_uri) if job else None
            result = run_training(
                config, spec, tracking_uri, s3_endpoint=s3_endpoint, progress=progress, data=data, job=job
            )
    except DataValidationError as exc:
        console.print(f"[red]refused:[/red] {exc}", highlight=False)
        for violation in exc.report.violations:
            console.print(f"  - {violation.kind} {violation.column or ''}: {violation.message}", highlight=False)
        console.print("nothing was trained or registered", style="red")
        return TrainExit.INVALID_DATA
    except (SpecError, DataSourceError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return TrainExit.BAD_CONFIG

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
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        _print_summary(summary, tracking_uri)
    return TrainExit.OK if result.gates_passed else TrainExit.GATES_FAILED


def _print_summary(summary: dict[str, Any], uri: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    alias = CHALLENGER if summary["challenger"] else "no alias (a gate failed)"
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
