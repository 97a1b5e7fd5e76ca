"""`mlops env up|preview|down|outputs ENV`: `pulumi up` and friends on an environment's stack."""

from __future__ import annotations

import json
import time

import typer

from mlops.cli.options import policy_pack_path

env_app = typer.Typer(
    help="Stand up, preview, tear down and inspect environments (one Pulumi stack each, configured in stacks/).",
    no_args_is_help=True,
)

ENV_ARG = typer.Argument(..., help="Environment (stack) name: one of the stacks/Pulumi.<name>.yaml files.")


def register(app: typer.Typer) -> None:
    app.add_typer(env_app, name="env")


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _stack(name: str, *, create: bool):
    from mlops.stacks import EnvironmentUnavailable, select_stack

    try:
        return select_stack(name, create=create)
    except EnvironmentUnavailable as exc:
        raise _fail(exc) from exc


def _run(label: str, action, *, streamed: bool = True):
    """Run a Pulumi operation, turning its failure into a clear message and exit code 1."""
    from pulumi import automation as auto

    started = time.monotonic()
    try:
        result = action()
    except auto.errors.CommandError as exc:
        typer.secho(f"{label} failed after {time.monotonic() - started:.1f}s.", fg=typer.colors.RED, err=True)
        if streamed:
            typer.secho("Pulumi's diagnostics above say which resource failed and why.", err=True)
        else:
            typer.secho(_command_error_text(exc), err=True)
        raise typer.Exit(code=1) from exc
    typer.secho(f"{label} finished in {time.monotonic() - started:.1f}s.", fg=typer.colors.GREEN, err=True)
    return result


def _command_error_text(exc: Exception) -> str:
    """The useful part of a Pulumi CLI failure: the diagnostics, without the Automation API's wrapper."""
    stderr = getattr(exc, "stderr", "") or ""
    stdout = getattr(exc, "stdout", "") or ""
    lines = [ln for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
    interesting = [ln for ln in lines if "error" in ln.lower() or "mlops:" in ln]
    return "\n".join(interesting[-15:]) if interesting else str(exc)[-2000:]


@env_app.command("up")
def up(
    name: str = ENV_ARG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (for CI and scripts)."),
    refresh: bool = typer.Option(
        True,
        "--refresh/--no-refresh",
        help="Refresh the state from the real resources first (default), so anything removed behind Pulumi's "
        "back (a container deleted by hand, a killed `up`) is recreated.",
    ),
) -> None:
    """Create or update ENV's resources (`pulumi up`), streaming Pulumi's output."""
    from mlops.preflight import PreflightFailed, check_docker_stack
    from mlops.stacks import project, stack_config

    stack = _stack(name, create=True)
    try:
        check_docker_stack(project().name, name, stack_config(name))
    except PreflightFailed as exc:
        raise _fail(exc) from exc
    if not yes:
        _run(f"preview of {name}", lambda: stack.preview(on_output=typer.echo, diff=False, refresh=refresh))
        if not typer.confirm(f"Apply these changes to '{name}'?", default=False):
            raise typer.Exit(code=1)
    result = _run(f"pulumi up of {name}", lambda: stack.up(on_output=typer.echo, refresh=refresh))
    _print_outputs({k: "[secret]" if v.secret else v.value for k, v in result.outputs.items()})


@env_app.command("preview")
def preview(
    name: str = ENV_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print the engine events as JSON (what CI comments use)."),
    diff: bool = typer.Option(False, "--diff", help="Show property-level diffs."),
    policy_pack: list[str] = typer.Option([], "--policy-pack", help="Run these policy packs during the preview."),
) -> None:
    """Show what `up` would change in ENV, without changing anything."""
    packs = [policy_pack_path(path) for path in policy_pack]
    stack = _stack(name, create=True)
    events: list[dict] = []

    def on_event(event) -> None:
        from pulumi.automation.events import EngineEvent

        from mlops.previews.run import to_plain

        if isinstance(event, EngineEvent):
            events.append(to_plain(event))

    result = _run(
        f"preview of {name}",
        lambda: stack.preview(
            on_output=None if as_json else typer.echo,
            on_event=on_event if as_json else None,
            diff=diff,
            policy_packs=packs or None,
        ),
        streamed=not as_json,
    )
    if as_json:
        typer.echo(json.dumps({"stack": name, "summary": result.change_summary, "events": events}, indent=2))


@env_app.command("down")
def down(
    name: str = ENV_ARG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    purge: bool = typer.Option(False, "--purge", help="Also delete ENV's volumes (registry, tracking data)."),
) -> None:
    """Destroy ENV's resources. Volumes (registered models, registry images) are kept unless --purge."""
    from mlops.leftovers import leftovers as find_leftovers
    from mlops.leftovers import remove_volumes

    stack = _stack(name, create=False)
    if not yes and not typer.confirm(f"Destroy every resource of '{name}'?", default=False):
        raise typer.Exit(code=1)
    _run(f"pulumi destroy of {name}", lambda: stack.destroy(on_output=typer.echo))
    if _down_on_cluster(name, stack, purge):
        return
    project_name = stack.workspace.project_settings().name
    leftovers = find_leftovers(project_name, name)
    if purge:
        removed = remove_volumes(project_name, name)
        typer.echo(f"Removed {len(removed)} volume(s): {', '.join(removed) or '-'}")
        leftovers = find_leftovers(project_name, name)
    elif leftovers.volumes:
        typer.echo(f"Kept {len(leftovers.volumes)} volume(s) with your data; `--purge` removes them.")
    if leftovers.others():
        raise _fail(RuntimeError(f"Resources of '{name}' are still present after destroy: {leftovers.others()}"))


def _down_on_cluster(name: str, stack, purge: bool) -> bool:
    """A kubernetes stack: --purge deletes its namespaces (PVCs with them); what is left is checked on the
    cluster, not among Docker images. False for any other target."""
    from mlops.cluster.stack_objects import StackCluster

    cluster = StackCluster.of(name, stack.get_all_config())
    if cluster is None:
        return False
    if purge:
        typer.echo(f"Removed {', '.join(cluster.purge()) or '-'}")
    left = cluster.leftovers()
    if left.get("volumes"):
        typer.echo(f"Kept {len(left['volumes'])} volume claim(s) with your data; `--purge` removes them.")
    if left.get("workloads"):
        raise _fail(RuntimeError(f"Objects of '{name}' are still on the cluster after destroy: {left['workloads']}"))
    return True


@env_app.command("outputs")
def outputs(
    name: str = ENV_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print the outputs as JSON."),
) -> None:
    """Print ENV's stack outputs (tracking URI, registry, serving endpoint, ...)."""
    from mlops.stacks import EnvironmentUnavailable, resolve

    try:
        env = resolve(name)
    except EnvironmentUnavailable as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(dict(env.outputs), indent=2, default=str))
    else:
        _print_outputs(env.outputs)


def _print_outputs(values) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("output", "value", title="stack outputs")
    for key in sorted(values):
        value = values[key]
        table.add_row(key, value if isinstance(value, str) else json.dumps(value, default=str))
    Console().print(table)
