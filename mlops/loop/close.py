"""One turn of the loop after a monitor pass that asks for a retrain, as `mlops monitor --env ENV --retrain`
runs it: retrain as a job on the stack's training cluster, then open a promotion request for the challenger
on the environment's tracking server, then announce it on the stack's webhook and ask GitHub for a run of the
promotion workflow for it, as the stack says. Nothing here promotes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ml.promote import promotion_requests as requests

if TYPE_CHECKING:
    from rich.console import Console

    from ml.monitor.judge import MonitorOutcome
    from ml.monitor.loop_policy import PromotionRequestPolicy
    from mlops.stacks import Environment

FAILED = 1


def close_loop(
    environment: Environment,
    outcome: MonitorOutcome,
    monitoring_run_id: str | None,
    *,
    log_uri: str,
    train_config: Path,
    console: Console,
) -> int:
    """0 when the turn went as far as the policy and the gates allow; 1 when the retrain failed."""
    from ml.monitor.retrain import trigger_tags
    from mlops.jobs.launch import report
    from mlops.loop.retrain_job import retrain_as_job

    tags = trigger_tags(outcome, monitoring_run_id)
    job = retrain_as_job(environment, outcome, log_uri=log_uri, train_config=train_config, tags=tags, console=console)
    summary = job.summary
    if job.exit_code not in (0, 3) or summary is None:
        report(job, console, env=environment.name, config_path=train_config, as_json=False)
        return FAILED
    model, version = str(summary["model_name"]), str(summary["version"])
    if not summary.get("challenger"):
        console.print(f"registered {model} version {version}, but its gates failed: no promotion request")
        return 0
    policy = outcome.request.thresholds
    if not policy.promote_to:
        console.print(
            f"registered {model} version {version} as challenger; no promotion request: the stack sets no "
            "mlops:monitoring.promoteTo"
        )
        return 0
    request = open_request(environment, model, version, policy.promote_to, tags)
    console.print(
        f"registered {model} version {version} as challenger; promotion request {request.request_id} "
        f"({environment.name} -> {request.target_env}) is pending: review it with `mlops promotions "
        f"{environment.name}`, promote it with `mlops promote --request {request.request_id} --env {environment.name}`",
        highlight=False,
    )
    if policy.promotion_request.webhook_url:
        announce(environment, request.request_id, policy.promotion_request, console)
    if policy.promotion_request.github:
        dispatch(environment, request, policy.promotion_request, console)
    return 0


def open_request(
    environment: Environment, model: str, version: str, target_env: str, trigger: dict[str, str]
) -> requests.PromotionRequest:
    from ml.promote.request_content import open_request as open_with_content

    return open_with_content(
        environment.tracking_uri,
        model=model,
        version=version,
        source_env=environment.name,
        target_env=target_env,
        trigger=trigger,
    )


def announce(environment: Environment, request_id: str, policy: PromotionRequestPolicy, console: Console) -> None:
    """POST the request's recorded JSON, signed; the outcome is recorded on the request either way."""
    from ml.promote.request_content import announce as post
    from mlops.loop import stack_secret
    from mlops.project import EnvironmentUnavailable

    tracking_uri = environment.tracking_uri
    try:
        secret = stack_secret.read_webhook_secret(environment.name)
    except EnvironmentUnavailable as exc:
        requests.record_delivery(tracking_uri, request_id, False, str(exc))
        console.print(f"[yellow]webhook not called:[/yellow] {exc}; the request stays pending", highlight=False)
        return
    delivery = post(tracking_uri, request_id, policy, secret)
    if delivery.delivered:
        console.print(f"- webhook: delivered ({delivery.detail})", highlight=False)
    else:
        console.print(
            f"[yellow]webhook delivery failed:[/yellow] {delivery.detail}; recorded on the request, which stays "
            "pending",
            highlight=False,
        )


def dispatch(
    environment: Environment, request: requests.PromotionRequest, policy: PromotionRequestPolicy, console: Console
) -> None:
    """Ask GitHub for a run of the promotion workflow for the request; the outcome is recorded on it either way."""
    from ml.promote.github_dispatch import dispatch as post
    from mlops.loop import stack_secret
    from mlops.project import EnvironmentUnavailable

    assert policy.github is not None
    tracking_uri = environment.tracking_uri
    try:
        token = stack_secret.read_github_token(environment.name)
    except EnvironmentUnavailable as exc:
        requests.record_dispatch(tracking_uri, request.request_id, False, str(exc))
        console.print(f"[yellow]GitHub not asked:[/yellow] {exc}; the request stays pending", highlight=False)
        return
    run = post(policy.github, token, request, attempts=policy.attempts, timeout_s=policy.timeout_s)
    requests.record_dispatch(tracking_uri, request.request_id, run.delivered, run.detail)
    if run.delivered:
        console.print(
            f"- GitHub: {policy.github.workflow} dispatched on {policy.github.repository}@{policy.github.ref} "
            f"({run.detail}); its run shows the request and promotes it through the gates and reviewers",
            highlight=False,
        )
    else:
        console.print(
            f"[yellow]GitHub dispatch failed:[/yellow] {run.detail}; recorded on the request, which stays pending",
            highlight=False,
        )
