"""`mlops loop status`: the closed loop of an environment: last monitoring pass, open retrains, pending requests."""

from __future__ import annotations

import json
from typing import Any

import typer

loop_app = typer.Typer(
    help="The closed loop: monitoring finds drift, a training job retrains, a promotion request waits for "
    "`mlops promote --request`.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(loop_app, name="loop")


@loop_app.command(
    "status",
    help="When monitoring last ran and what it found, the retraining jobs running now and the pending promotion "
    "requests. Exit 1 when the environment cannot be read.",
)
def status(
    env: str = typer.Option(..., "--env", help="Environment (stack) whose loop to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    from mlops.loop.status import loop_status
    from mlops.stacks import EnvironmentUnavailable, resolve

    try:
        state = loop_status(resolve(env))
    except EnvironmentUnavailable as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    if as_json:
        typer.echo(json.dumps(state.to_dict(), indent=1))
        return
    _print(state)


def _print(state: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    last = state.last_monitoring
    if last is None:
        console.print(f"[bold]{state.env}[/bold]: monitoring has never run (no run in the 'monitoring' experiment)")
    else:
        drifted = ", ".join(last.drifted_features) or "none"
        console.print(
            f"[bold]{state.env}[/bold]: monitoring last ran {last.started} on {last.model} v{last.model_version} "
            f"({last.rows} rows, window {last.window}): [bold]{last.status}[/bold]; drifted: {drifted} "
            f"(run {last.run_id})",
            highlight=False,
        )
    if state.open_retrains_unknown:
        console.print(f"open retrains: unknown ({state.open_retrains_unknown})", highlight=False)
    else:
        jobs = ", ".join(f"{j['name']} (since {j['started']})" for j in state.open_retrains) or "none"
        console.print(f"open retrains: {jobs}", highlight=False)
    if not state.pending_requests:
        console.print("pending promotion requests: none")
        return
    table = Table("id", "opened", "model", "version", "to", "webhook", title="pending promotion requests")
    for r in state.pending_requests:
        table.add_row(r["request_id"], r["created"], r["model"], r["version"], r["target_env"], r["delivery"])
    console.print(table)
