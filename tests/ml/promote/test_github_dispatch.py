"""A promotion request dispatched as a run of the promotion workflow, against a stand-in of GitHub's REST API on
loopback (`tests.mlops.loop.github_api`: GitHub cannot be reached here): the documented call, bounded retries,
no retry of a refusal, and the `mlops:monitoring.promotionRequest.github` keys checked where they are read."""

from __future__ import annotations

import pytest

from ml.monitor.loop_policy import GitHubDispatch
from ml.monitor.thresholds import Thresholds
from ml.promote.github_dispatch import dispatch
from ml.promote.promotion_requests import PromotionRequest
from tests.mlops.loop.github_api import github_api
from tests.mlops.loop.receiver import no_sleep

REQUEST = PromotionRequest(
    request_id="0123456789abcdef0123456789abcdef",
    model="breast-cancer",
    version="7",
    source_env="staging",
    target_env="prod",
    status="pending",
    created="2026-12-03T10:00:00Z",
)


def _target(url: str) -> GitHubDispatch:
    return GitHubDispatch(repository="acme/ml-platform", workflow="promote.yml", ref="release", api_url=url)


def test_a_dispatch_queues_the_promotion_workflow_with_the_request_as_its_inputs() -> None:
    with github_api("ghp-token") as api:
        sent = dispatch(_target(api.url), "ghp-token", REQUEST, sleep=no_sleep)
    assert sent.delivered and sent.attempts == 1
    assert sent.detail == "HTTP 204 from acme/ml-platform promote.yml@release"
    (call,) = api.calls
    assert call.path == "/repos/acme/ml-platform/actions/workflows/promote.yml/dispatches"
    assert call.headers["authorization"] == "Bearer ghp-token" and call.headers["x-github-api-version"] == "2022-11-28"
    assert call.body == {
        "ref": "release",
        "inputs": {"model": "breast-cancer", "from": "staging", "to": "prod", "request": REQUEST.request_id},
    }
    assert "ghp-token" not in sent.detail


def test_a_refused_token_is_not_retried_and_a_server_error_is() -> None:
    with github_api("the-right-one") as api:
        refused = dispatch(_target(api.url), "a-wrong-one", REQUEST, attempts=3, sleep=no_sleep)
    assert not refused.delivered and refused.attempts == 1
    assert refused.detail == "HTTP 401 from acme/ml-platform promote.yml@release"
    with github_api("ghp-token", script=[502, 503]) as api:
        recovered = dispatch(_target(api.url), "ghp-token", REQUEST, attempts=3, sleep=no_sleep)
    assert recovered.delivered and recovered.attempts == 3 and len(api.dispatched()) == 1
    with github_api("ghp-token", script=[502, 502]) as api:
        gave_up = dispatch(_target(api.url), "ghp-token", REQUEST, attempts=2, sleep=no_sleep)
    assert not gave_up.delivered and gave_up.detail.endswith("after 2 attempt(s)") and api.dispatched() == []


SECRET = {"secure": "v1:encrypted"}


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ({"promotionRequest": {"github": {"repository": "acme/ml"}}}, "needs githubToken (a Pulumi secret)"),
        (
            {"promotionRequest": {"github": {"repository": "acme/ml"}}, "githubToken": "ghp-in-the-clear"},
            "githubToken must be a Pulumi secret, not a plain value: set it with "
            "`pulumi config set --secret --path mlops:monitoring.githubToken VALUE`",
        ),
        ({"promotionRequest": {"github": {"repository": "acme"}}, "githubToken": SECRET}, "owner/name"),
        (
            {"promotionRequest": {"github": {"repository": "a/b", "workflow": "../x"}}, "githubToken": SECRET},
            "a workflow's file name",
        ),
    ],
)
def test_the_github_keys_are_checked_with_the_stack_and_the_fix(section: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=r"stack 'dev': mlops:monitoring") as raised:
        Thresholds.from_config(section, stack="dev")
    assert says in str(raised.value)


def test_the_github_defaults_are_the_promotion_workflow_on_main_at_github_com() -> None:
    section = {"promotionRequest": {"github": {"repository": "acme/ml"}}, "githubToken": SECRET}
    github = Thresholds.from_config(section).promotion_request.github
    assert github == GitHubDispatch(repository="acme/ml")
    assert (github.workflow, github.ref, github.api_url) == ("promote.yml", "main", "https://api.github.com")
