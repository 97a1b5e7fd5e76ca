"""`mlops data validate` and `mlops data generate`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from mlops.cli.options import S3EndpointOption

log = logging.getLogger(__name__)

data_app = typer.Typer(help="Check datasets against their spec, and generate synthetic ones.", no_args_is_help=True)

EXIT_INVALID_DATA = 1
EXIT_BAD_SPEC = 2


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(data_app, name="data")


@data_app.command("validate")
def validate(
    spec_path: Path = typer.Argument(..., help="Dataset spec YAML, e.g. examples/breast_cancer/dataset.yaml"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
    s3_endpoint: str | None = S3EndpointOption,
) -> None:
    """Check a dataset against its spec and list EVERY violation. Exit code 1 when any is found, 2 when the
    spec itself or the data source is unusable."""
    from rich.console import Console

    from ml.data import DataSourceError, load_dataset
    from ml.spec import SpecError, load_dataset_spec
    from ml.validate import validate_frame

    console = Console()
    try:
        spec = load_dataset_spec(spec_path)
        loaded = load_dataset(spec, s3_endpoint)
    except (SpecError, DataSourceError) as exc:
        if as_json:
            typer.echo(json.dumps({"ok": False, "error": str(exc)}))
        else:
            Console(stderr=True).print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(EXIT_BAD_SPEC) from exc
    report = validate_frame(loaded.frame, spec)
    if as_json:
        typer.echo(json.dumps(report.to_dict() | {"uri": loaded.uri, "sha256": loaded.sha256}, default=str))
    else:
        _print_report(console, report, loaded.uri, loaded.sha256)
    if not report.ok:
        raise typer.Exit(EXIT_INVALID_DATA)


def _print_report(console: object, report: object, uri: str, sha256: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from ml.validate import ValidationReport

    assert isinstance(console, Console) and isinstance(report, ValidationReport)
    console.print(f"dataset [bold]{report.dataset}[/bold] from {uri}: {report.rows} rows, {report.columns} columns")
    console.print(f"sha256 {sha256}", highlight=False)
    if report.ok:
        console.print("[green]valid: no violations[/green]")
        return
    table = Table(title=f"{len(report.violations)} violation(s)", show_lines=False)
    for name in ("kind", "column", "rows", "problem", "examples"):
        table.add_column(name, overflow="fold")
    for v in report.violations:
        examples = ", ".join(map(str, v.examples))
        table.add_row(str(v.kind), v.column or "-", str(v.count or ""), v.message, examples)
    console.print(table)
    console.print("[red]invalid: fix the data or the spec; training refuses this dataset[/red]")


@data_app.command("generate")
def generate(
    out: Path = typer.Option(..., "--out", "-o", help="Output file, .parquet or .csv"),
    rows: int = typer.Option(1_000_000, "--rows", "-n", help="Number of rows."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same bytes."),
    drift: list[str] = typer.Option(
        [],
        "--drift",
        help="COLUMN=AMOUNT, repeatable: shift a numeric column by AMOUNT, or move that share of a "
        "categorical column's rows to its last category (e.g. --drift age=8 --drift plan=0.3).",
    ),
) -> None:
    """Write a synthetic churn dataset (numeric + categorical columns, binary target `churned`)."""
    import time

    from ml.generate import GenerateError, parse_drift
    from ml.generate import generate as make

    if out.suffix not in (".parquet", ".csv"):
        raise typer.BadParameter(f"{out} must end in .parquet or .csv", param_hint="--out")
    started = time.perf_counter()
    try:
        frame = make(rows, seed=seed, drift=parse_drift(drift))
    except GenerateError as exc:
        raise typer.BadParameter(str(exc)) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    typer.echo(f"wrote {len(frame)} rows to {out} in {time.perf_counter() - started:.1f} s (seed {seed})")
