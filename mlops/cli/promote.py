"""`mlops promote` and `mlops promotions`: move a model between environments behind the target's gates."""

from __future__ import annotations

import json
import os
from typing import Any

import typer

EXIT_CODES = (
    "Exit codes: 0 promoted (or rolled back, or recovered), 1 error (including: another promotion holds the "
    "target), 2 refused by a gate, 3 needs approval, 4 rollout failed and was rolled back, 5 rollout failed "
    "and restoring the previous state failed too (fix the cause, then --recover)."
)


def register(app: typer.Typer) -> None:
    app.command(
        "promote",
        help="Promote MODEL from one environment to the next, or roll back, or promote what a pending promotion "
        f"request asks for (--request ID --env ENV). {EXIT_CODES}",
    )(promote)
    app.command(
        "promotions",
        help="The pending promotion requests recorded on an environment (its monitor's retrains), then its "
        "promotion audit log, newest first.",
    )(promotions)


def _target(env: str, say, wait: float):
    from ml.promote.flow import Target
    from ml.promote.promotion_policy import parse_policy
    from mlops.deployer import StackDeployer
    from mlops.stacks import resolve

    environment = resolve(env)
    return Target(
        name=env,
        tracking_uri=environment.tracking_uri,
        policy=parse_policy(env, environment.section("promotion")),
        deployer=StackDeployer(env, say),
        lock_wait_s=wait,
    )


def promote(
    model: str = typer.Argument(None, help="Registered model name (e.g. breast-cancer)."),
    source: str = typer.Option(None, "--from", help="Source environment (stack)."),
    target: str = typer.Option(None, "--to", help="Target environment (stack)."),
    version: str = typer.Option(None, "--version", help="Source version number."),
    alias: str = typer.Option(None, "--alias", help="Source alias (default: challenger)."),
    approve: bool = typer.Option(False, "--approve", help="Record your approval (for stacks that require one)."),
    rollback: bool = typer.Option(False, "--rollback", help="Roll --env back to its previous champion."),
    recover: bool = typer.Option(
        False,
        "--recover",
        help="Settle an interrupted promotion or rollback of --env: complete it if its smoke test passed, "
        "else put back the previous champion and serving.",
    ),
    env: str = typer.Option(
        None, "--env", help="With --rollback or --recover: the environment. With --request: where it was recorded."
    ),
    request: str = typer.Option(
        None,
        "--request",
        help="A pending promotion request's id (`mlops promotions ENV`): promote exactly its version to its "
        "target through the gates and approval, then mark it promoted or refused.",
    ),
    wait: float = typer.Option(
        0.0, "--wait", min=0.0, help="Seconds to wait while another promotion holds the target (default: refuse)."
    ),
) -> None:
    from ml.artifact_hash import ArtifactIntegrityError
    from ml.promote.flow import Outcome
    from ml.promote.flow import promote as run_promotion
    from ml.promote.promotion_policy import PolicyError
    from ml.promote.promotion_requests import RequestNotFound, RequestSettled, RequestTargetMismatch
    from ml.promote.recovery import recover as run_recover
    from ml.promote.recovery import rollback as run_rollback
    from ml.promote.versions import VersionNotFound
    from mlops.stacks import EnvironmentUnavailable

    say = typer.echo
    try:
        if sum(map(bool, (rollback, recover, request))) > 1:
            raise typer.BadParameter("give one of --rollback, --recover and --request")
        if request:
            if not env or model or source or version or alias:
                raise typer.BadParameter(
                    "--request needs --env ENV (where the request was recorded) and nothing else but, as a check, "
                    "--to ENV: the request names the model, the version and both environments"
                )
            from mlops.loop.requested import promote_requested

            report = promote_requested(
                request,
                env,
                approved_by=os.environ.get("MLOPS_APPROVED_BY") or (_actor() if approve else None),
                say=say,
                target_for=lambda name: _target(name, say, wait),
                expect_target=target,
            )
        elif recover:
            if not env:
                raise typer.BadParameter("--recover needs --env ENV")
            report = run_recover(_target(env, say, wait), say=say)
        elif rollback:
            if not (env and model):
                raise typer.BadParameter("--rollback needs MODEL and --env ENV")
            report = run_rollback(model, _target(env, say, wait), say=say)
        else:
            if not (model and source and target):
                raise typer.BadParameter("promotion needs MODEL, --from ENV and --to ENV")
            if version and alias:
                raise typer.BadParameter("give --version or --alias, not both")
            approved_by = os.environ.get("MLOPS_APPROVED_BY") or (_actor() if approve else None)
            from mlops.stacks import resolve

            report = run_promotion(
                model,
                source,
                resolve(source).tracking_uri,
                _target(target, say, wait),
                version=version,
                alias=alias,
                approved_by=approved_by,
                say=say,
            )
    except (
        EnvironmentUnavailable,
        PolicyError,
        VersionNotFound,
        ArtifactIntegrityError,
        RequestNotFound,
        RequestSettled,
        RequestTargetMismatch,
    ) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=int(Outcome.ERROR)) from exc
    _print_gates(report.gates)
    color = typer.colors.GREEN if report.outcome == Outcome.PROMOTED else typer.colors.RED
    typer.secho(report.message, fg=color)
    raise typer.Exit(code=int(report.outcome))


def _actor() -> str:
    from ml.promote.audit import actor

    return actor()


def _print_gates(gates) -> None:
    if not gates:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("gate", "result", "detail", title="promotion gates")
    for gate in gates:
        table.add_row(gate.name, "[green]pass[/green]" if gate.passed else "[red]FAIL[/red]", gate.detail)
    Console().print(table)


def promotions(
    env: str = typer.Argument(..., help="Environment whose audit log to show."),
    model: str = typer.Option(None, "--model", help="Only this model."),
    limit: int = typer.Option(20, "--limit", help="How many entries."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    request: str = typer.Option(
        None, "--request", help="Print this promotion request's comment (markdown) instead, as its webhook got it."
    ),
) -> None:
    from dataclasses import asdict

    from rich.console import Console
    from rich.table import Table

    from ml.promote.audit import history
    from ml.promote.promotion_requests import PENDING, RequestNotFound, content, list_requests
    from mlops.stacks import EnvironmentUnavailable, resolve

    try:
        tracking_uri = resolve(env).tracking_uri
        if request:
            typer.echo(content(tracking_uri, request)[0])
            return
        entries = history(tracking_uri, model, limit)
    except (EnvironmentUnavailable, RequestNotFound) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    if as_json:  # the audit log only, as before; `mlops loop status --json` has the requests
        typer.echo(json.dumps([asdict(e) for e in entries], indent=2))
        return
    pending = list_requests(tracking_uri, status=PENDING, model=model)
    if pending:
        Console().print(_requests_table(env, pending))
    table = Table(
        "when",
        "who",
        "action",
        "model",
        "from",
        "version",
        "previous",
        "outcome",
        "reason",
        title=f"promotions into {env}",
    )
    for e in entries:
        table.add_row(
            e.when,
            e.actor,
            e.action,
            e.model,
            e.source_env,
            f"{e.source_version} -> {e.target_version or '-'}",
            e.previous_version or "-",
            e.outcome,
            e.reason[:80],
        )
    Console().print(table)


def _requests_table(env: str, pending: list[Any]) -> Any:
    from rich.table import Table

    from contract import TAG_TRIGGER_DRIFTED_FEATURES, TAG_TRIGGER_KIND

    columns = ("id", "opened", "model", "version", "to", "trigger", "webhook", "github")
    table = Table(*columns, title=f"pending requests of {env}")
    for r in pending:
        trigger = r.trigger.get(TAG_TRIGGER_KIND, "?")
        if features := r.trigger.get(TAG_TRIGGER_DRIFTED_FEATURES):
            trigger += f": {features}"
        table.add_row(
            r.request_id, r.created, r.model, r.version, r.target_env, trigger[:60], r.delivery, r.dispatch or "-"
        )
    return table
