"""What a promotion attempt does to its request, against a real MLflow server: refused by a gate -> refused
with the gate's reason; needs approval -> still pending with why; and a webhook that keeps failing or a
secret that cannot be read -> the failure recorded, the request still pending.

Stood in for: reading the stack (`mlops.stacks.resolve`, the webhook secret) and the target's rollout, which
these outcomes never reach (the deployer fails the test if it is called)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from contract import TAG_GATES_PASSED, TAG_TRIGGER_KIND
from ml.monitor.loop_policy import PromotionRequestPolicy
from ml.promote import promotion_requests as requests
from ml.promote.flow import Outcome, Target
from ml.promote.promotion_policy import parse_policy
from mlops import stacks
from mlops.loop import close, stack_secret
from mlops.loop.requested import promote_requested
from mlops.project import EnvironmentUnavailable
from tests.mlops.loop.receiver import webhook_receiver

pytestmark = pytest.mark.integration

SECRET = "outcomes-secret"


class UntouchedDeployer:
    def model_uri(self) -> str:
        return ""

    def set_model_uri(self, uri: str) -> None:
        raise AssertionError(f"a refused or unapproved request must not change serving (asked for {uri})")

    def roll_out(self) -> str:
        raise AssertionError("a refused or unapproved request must not roll out")


def _registered(tracking_uri: str, name: str, roc_auc: float) -> str:
    """A version whose run carries its test metric and whose training gates passed."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    run = client.create_run(client.create_experiment(f"{name}-training"))
    client.log_metric(run.info.run_id, "test_roc_auc", roc_auc)
    client.set_terminated(run.info.run_id)
    client.create_registered_model(name)
    version = client.create_model_version(
        name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags={TAG_GATES_PASSED: "true"}
    )
    return str(version.version)


def _request(tracking_uri: str, model: str, version: str) -> requests.PromotionRequest:
    return requests.open_request(
        tracking_uri,
        model=model,
        version=version,
        source_env="dev",
        target_env="staging",
        trigger={TAG_TRIGGER_KIND: "drift"},
        render=lambda request_id: (f"request {request_id}\n", {"kind": "promotion-request"}),
    )


@pytest.fixture
def environments(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(stacks, "resolve", lambda name: stacks.Environment(name, {"tracking_uri": mlflow_server}))
    return mlflow_server


def _target(tracking_uri: str, policy: dict[str, Any]) -> Any:
    return lambda name: Target(name, tracking_uri, parse_policy(name, policy), UntouchedDeployer())


def test_a_gate_refusal_settles_the_request_as_refused_with_the_gates_reason(
    environments: str, model_name: str
) -> None:
    version = _registered(environments, model_name, roc_auc=0.7)
    opened = _request(environments, model_name, version)
    policy = {"thresholds": [{"metric": "roc_auc", "threshold": 0.8}]}
    said: list[str] = []
    report = promote_requested(
        opened.request_id, "dev", approved_by=None, say=said.append, target_for=_target(environments, policy)
    )
    assert report.outcome == Outcome.REFUSED
    settled = requests.get_request(environments, opened.request_id)
    assert settled.status == "refused"
    assert "threshold:roc_auc: roc_auc = 0.7000, required roc_auc >= 0.8" in settled.reason
    with pytest.raises(requests.RequestSettled, match="is refused already"):
        promote_requested(
            opened.request_id, "dev", approved_by=None, say=said.append, target_for=_target(environments, policy)
        )


def test_a_request_that_needs_approval_stays_pending_with_why(environments: str, model_name: str) -> None:
    version = _registered(environments, model_name, roc_auc=0.95)
    opened = _request(environments, model_name, version)
    policy = {"requireApproval": True, "thresholds": [{"metric": "roc_auc", "threshold": 0.8}]}
    report = promote_requested(
        opened.request_id, "dev", approved_by=None, say=lambda _: None, target_for=_target(environments, policy)
    )
    assert report.outcome == Outcome.NEEDS_APPROVAL
    pending = requests.get_request(environments, opened.request_id)
    assert pending.status == "pending" and pending.reason.startswith("needs_approval: ")


def test_a_request_into_another_environment_than_the_approved_one_is_refused_untouched(
    environments: str, model_name: str
) -> None:
    """promote.yml's run is approved for its `to` environment; a request into another one promotes nothing."""
    version = _registered(environments, model_name, roc_auc=0.95)
    opened = _request(environments, model_name, version)  # into staging
    policy = {"thresholds": [{"metric": "roc_auc", "threshold": 0.8}]}
    targets: list[str] = []

    def target_for(name: str) -> Any:
        targets.append(name)
        return _target(environments, policy)(name)

    with pytest.raises(
        requests.RequestTargetMismatch, match=r"asks for staging, not prod: nothing promoted\. Run it with --to staging"
    ):
        promote_requested(
            opened.request_id, "dev", approved_by=None, say=lambda _: None, target_for=target_for, expect_target="prod"
        )
    assert targets == [] and requests.get_request(environments, opened.request_id).status == "pending"


def test_a_github_dispatch_without_its_token_is_recorded_and_nothing_is_sent(
    environments: str, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.monitor.loop_policy import GitHubDispatch
    from tests.mlops.loop.github_api import github_api

    def unreadable(env: str) -> str:
        raise EnvironmentUnavailable(f"stack '{env}': cannot read mlops:monitoring.githubToken")

    monkeypatch.setattr(stack_secret, "read_github_token", unreadable)
    opened = _request(environments, model_name, "1")
    console = Console(record=True, width=200)
    with github_api("ghp") as api:
        policy = PromotionRequestPolicy(github=GitHubDispatch(repository="acme/ml", api_url=api.url))
        close.dispatch(stacks.Environment("dev", {"tracking_uri": environments}), opened, policy, console)
    assert api.calls == []
    kept = requests.get_request(environments, opened.request_id)
    assert (kept.status, kept.dispatch) == ("pending", "failed")
    assert "cannot read mlops:monitoring.githubToken" in kept.dispatch_detail
    assert "GitHub not asked" in console.export_text()


def _announce(tracking_uri: str, request_id: str, url: str) -> str:
    environment = stacks.Environment("dev", {"tracking_uri": tracking_uri})
    console = Console(record=True, width=200)
    policy = PromotionRequestPolicy(webhook_url=url, timeout_s=2, attempts=2)
    close.announce(environment, request_id, policy, console)
    return console.export_text()


def test_a_webhook_that_keeps_failing_is_recorded_and_the_request_stays_pending(
    environments: str, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack_secret, "read_webhook_secret", lambda env: SECRET)
    opened = _request(environments, model_name, "1")
    with webhook_receiver(SECRET, script=[500, 502, 200]) as receiver:
        said = _announce(environments, opened.request_id, receiver.url)
    assert len(receiver.received) == 2 and all(r.verified for r in receiver.received)  # bounded: 2 attempts
    kept = requests.get_request(environments, opened.request_id)
    assert (kept.status, kept.delivery) == ("pending", "failed")
    assert kept.delivery_detail == f"HTTP 502 from {receiver.url} after 2 attempt(s)"
    assert "webhook delivery failed" in said and "stays pending" in said


def test_an_unreadable_secret_is_recorded_and_nothing_is_sent(
    environments: str, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(env: str) -> str:
        raise EnvironmentUnavailable(f"stack '{env}': cannot read mlops:monitoring.webhookSecret")

    monkeypatch.setattr(stack_secret, "read_webhook_secret", unreadable)
    opened = _request(environments, model_name, "1")
    with webhook_receiver(SECRET) as receiver:
        _announce(environments, opened.request_id, receiver.url)
    assert receiver.received == []
    kept = requests.get_request(environments, opened.request_id)
    assert (kept.status, kept.delivery) == ("pending", "failed")
    assert "cannot read mlops:monitoring.webhookSecret" in kept.delivery_detail


def test_the_trigger_kind_follows_the_finding_the_policy_retrained_on() -> None:
    from ml.monitor.retrain import trigger_kind
    from ml.monitor.thresholds import Thresholds

    def outcome(decay: bool, on_decay: bool = True) -> Any:
        thresholds = Thresholds.from_config({"retrain": {"onQualityDecay": on_decay}})
        return SimpleNamespace(request=SimpleNamespace(thresholds=thresholds), quality_decay=decay)

    assert trigger_kind(outcome(decay=True)) == "quality"
    assert trigger_kind(outcome(decay=False)) == "drift"
    assert trigger_kind(outcome(decay=True, on_decay=False)) == "drift"  # decay seen, but drift asked for it
