"""`mlops cluster up|down|status`: the local single-node Kubernetes cluster of the cluster stacks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

cluster_app = typer.Typer(
    help="Start, stop and inspect the local single-node Kubernetes cluster (the cluster stacks' default).",
    no_args_is_help=True,
)

STATE_DIR = typer.Option(
    None,
    "--state-dir",
    envvar="MLOPS_CLUSTER_STATE_DIR",
    help="Where the cluster keeps its data, logs and kubeconfig (default /var/lib/mlops-cluster).",
)


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")


def _cluster(state_dir: Path | None):
    from mlops.cluster.cluster import Cluster
    from mlops.cluster.layout import DEFAULT_RUN_DIR, Layout
    from mlops.cluster.progress import Progress

    def report(step: str, detail: str, seconds: float) -> None:
        typer.echo(f"  {step:<18} {seconds:6.1f}s  {detail}")

    layout = (
        Layout()
        if state_dir is None
        else Layout(state_dir=state_dir, run_dir=DEFAULT_RUN_DIR.with_name(state_dir.name))
    )
    return Cluster(layout=layout, progress=Progress(report=report))


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@cluster_app.command("up")
def up(state_dir: Path | None = STATE_DIR) -> None:
    """Start the cluster (idempotent: what already runs and answers is left alone)."""
    from mlops.cluster.layout import ClusterError
    from mlops.cluster.lifecycle import up as cluster_up

    cluster = _cluster(state_dir)
    try:
        message = cluster_up(cluster)
    except ClusterError as exc:
        raise _fail(exc) from exc
    typer.secho(message, fg=typer.colors.GREEN)
    typer.echo(f"export KUBECONFIG={cluster.layout.admin_kubeconfig}")


@cluster_app.command("down")
def down(
    state_dir: Path | None = STATE_DIR,
    purge: bool = typer.Option(
        False, "--purge", help="Also delete the cluster's data (etcd, images, volumes, certificates)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before purging."),
) -> None:
    """Stop the cluster and restore the host (iptables rules, sysctls); the data stays unless --purge."""
    from mlops.cluster.layout import ClusterError
    from mlops.cluster.preflight import check_root
    from mlops.cluster.teardown import down as cluster_down

    cluster = _cluster(state_dir)
    if purge and not yes and not typer.confirm(f"Delete everything in {cluster.layout.state_dir}?", default=False):
        raise typer.Exit(code=1)
    try:
        check_root()
        message = cluster_down(cluster, purge=purge)
    except ClusterError as exc:
        raise _fail(exc) from exc
    typer.secho(message, fg=typer.colors.GREEN)


@cluster_app.command("status")
def status(
    state_dir: Path | None = STATE_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Say what runs, whether it answers, and how much memory it uses."""
    from mlops.cluster.status import status as cluster_status
    from mlops.cluster.status import summary

    if os.geteuid() != 0:
        typer.secho("note: not root, so some details may be missing", err=True)
    report = cluster_status(_cluster(state_dir))
    typer.echo(json.dumps(report, indent=2) if as_json else "\n".join(summary(report)))
