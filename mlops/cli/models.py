"""`mlops models list` and `mlops models show`: what is in the registry, with lineage and gate results."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import typer

from contract import CHALLENGER, TAG_GATES_PASSED
from mlops.cli.options import EnvOption, TrackingUriOption, resolve_tracking_uri

log = logging.getLogger(__name__)

models_app = typer.Typer(help="Registered models: versions, aliases, lineage and gates.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(models_app, name="models")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


@models_app.command("list")
def list_models(
    name: str | None = typer.Argument(None, help="Only versions of this registered model."),
    env: str | None = EnvOption,
    tracking_uri: str | None = TrackingUriOption,
    limit: int = typer.Option(50, "--limit", help="At most this many versions, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List registered model versions, newest first."""
    from mlflow import MlflowClient
    from rich.console import Console
    from rich.table import Table

    from ml.registry import list_versions

    client = MlflowClient(resolve_tracking_uri(env, tracking_uri))
    versions = list_versions(client, name, limit)
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in versions]))
        return
    if not versions:
        typer.echo("no registered model versions" + (f" for {name!r}" if name else ""))
        return
    table = Table("model", "version", "aliases", "created (UTC)", "gates", "data sha256", "git commit")
    for v in versions:
        passed = v.tags.get(TAG_GATES_PASSED, "-")
        gates = {"true": "[green]passed[/green]", "false": "[red]failed[/red]"}.get(passed, passed)
        table.add_row(
            v.name,
            v.version,
            ", ".join(v.aliases) or "-",
            _when(v.created_ms),
            gates,
            v.tags.get("data.sha256", "-")[:12],
            v.tags.get("git.commit", "-")[:10],
        )
    Console().print(table)


@models_app.command("show")
def show(
    name: str = typer.Argument(..., help="Registered model name, e.g. breast-cancer"),
    version: str = typer.Argument(CHALLENGER, help="A version number or an alias (challenger, champion)."),
    env: str | None = EnvOption,
    tracking_uri: str | None = TrackingUriOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show one version: aliases, held-out metrics, gates, data and code lineage."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from rich.console import Console
    from rich.table import Table

    from ml.registry import gates_from_tags, show_version

    client = MlflowClient(resolve_tracking_uri(env, tracking_uri))
    try:
        summary = show_version(client, name, version)
    except MlflowException as exc:
        raise typer.BadParameter(
            f"no version {version!r} of model {name!r}: {exc.message}; see `mlops models list {name}`"
        ) from exc
    if as_json:
        typer.echo(json.dumps(summary.to_dict()))
        return
    console = Console()
    console.print(
        f"[bold]{summary.name}[/bold] version [bold]{summary.version}[/bold] "
        f"aliases: {', '.join(summary.aliases) or '-'}; run {summary.run_id}; created {_when(summary.created_ms)} UTC",
        highlight=False,
    )
    lineage = Table("tag", "value", title="lineage")
    for key in ("data.uri", "data.sha256", "data.rows", "git.commit", "git.dirty", "seed", "task", "target"):
        lineage.add_row(key, summary.tags.get(key, "-"))
    console.print(lineage)
    metrics = Table("metric", "value", title="held-out metrics")
    for key, value in sorted(summary.metrics.items()):
        metrics.add_row(key, f"{value:.4f}")
    console.print(metrics)
    gates = Table("gate", "passed", "value", "threshold", title=f"gates (passed: {summary.tags.get('gates.passed')})")
    for gate in gates_from_tags(summary.tags):
        gates.add_row(
            str(gate.get("name")), str(gate.get("passed")), str(gate.get("value")), str(gate.get("threshold"))
        )
    console.print(gates)


@models_app.command("trust")
def trust(
    name: str = typer.Argument(..., help="Registered model name, e.g. breast-cancer"),
    version: str = typer.Argument(..., help="The version number registered before artifact hashes were recorded."),
    env: str | None = EnvOption,
    tracking_uri: str | None = TrackingUriOption,
) -> None:
    """Record the hash of an unhashed version's files as they are now, so servers and promotions load it.

    For versions registered before artifact hashes existed: vouch only for files you trust. A version that
    already has a hash keeps it (a mismatch means its files changed: re-register it from a trusted run)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from contract import TAG_ARTIFACT_SHA256
    from ml.registry import tag_artifact_sha256

    client = MlflowClient(resolve_tracking_uri(env, tracking_uri))
    try:
        recorded = client.get_model_version(name, version).tags.get(TAG_ARTIFACT_SHA256)
    except MlflowException as exc:
        raise typer.BadParameter(
            f"no version {version!r} of model {name!r}: {exc.message}; see `mlops models list {name}`"
        ) from exc
    if recorded:
        typer.secho(
            f"error: {name} version {version} already has {TAG_ARTIFACT_SHA256}={recorded}; it is left as it is",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=1)
    digest = tag_artifact_sha256(client, name, version)
    typer.echo(f"{name} version {version}: recorded {TAG_ARTIFACT_SHA256}={digest}")
