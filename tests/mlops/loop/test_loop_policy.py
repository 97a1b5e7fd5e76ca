"""The closed loop's keys of `mlops:monitoring`, validated where the monitoring policy is parsed: every
error names the stack, the dotted key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml.monitor.thresholds import MonitoringConfigError, Thresholds
from tests.support.paths import REPO

STACKS = REPO / "stacks"
SECRET = {"secure": "v1:AAAAAAAAAAAAAAAAAAAAAA==:encrypted"}


def _error(config: dict[str, object]) -> str:
    with pytest.raises(MonitoringConfigError) as raised:
        Thresholds.from_config(config, stack="dev")
    return str(raised.value)


def test_a_complete_loop_section_parses() -> None:
    t = Thresholds.from_config(
        {
            "labels": "s3://bucket/labels",
            "promoteTo": "staging",
            "retrain": {"onDrift": True, "includeReference": True, "trainConfig": "examples/x/train.yaml"},
            "promotionRequest": {"webhookUrl": "https://hooks.example.com/mlops", "timeoutS": 2, "attempts": 4},
            "webhookSecret": SECRET,
            "schedule": "*/30 * * * *",
        },
        stack="dev",
    )
    assert (t.labels, t.promote_to, t.retrain.train_config) == (
        "s3://bucket/labels",
        "staging",
        "examples/x/train.yaml",
    )
    assert (t.promotion_request.webhook_url, t.promotion_request.timeout_s, t.promotion_request.attempts) == (
        "https://hooks.example.com/mlops",
        2.0,
        4,
    )
    assert t.webhook_secret == "<secret>"  # that one is set, never its (encrypted) value
    assert "v1:" not in repr(t)


def test_the_loop_is_off_by_default() -> None:
    t = Thresholds.from_config({}, stack="dev")
    assert (t.labels, t.promote_to, t.retrain.train_config, t.promotion_request.webhook_url) == (None,) * 4


def test_a_plain_text_secret_is_refused_with_the_command_that_encrypts_it() -> None:
    assert _error({"webhookSecret": "hunter2"}) == (
        "stack 'dev': mlops:monitoring.webhookSecret must be a Pulumi secret, not a plain value: set it with "
        "`pulumi config set --secret --path mlops:monitoring.webhookSecret VALUE`"
    )


def test_a_webhook_without_a_secret_is_refused() -> None:
    message = _error({"promotionRequest": {"webhookUrl": "https://hooks.example.com/x"}})
    assert message.startswith("stack 'dev': mlops:monitoring needs webhookSecret (a Pulumi secret)")
    assert "pulumi config set --secret --path mlops:monitoring.webhookSecret" in message


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"promotionRequest": {"webhookUrl": "ftp://hooks.example.com"}, "webhookSecret": SECRET},
            "mlops:monitoring.promotionRequest.webhookUrl must be an http:// or https:// URL, got 'ftp://hooks.example.com'",
        ),
        (
            {"promotionRequest": {"timeoutS": 0}},
            "mlops:monitoring.promotionRequest.timeoutS must be seconds, above 0 and at most 60, got 0",
        ),
        (
            {"promotionRequest": {"attempts": 11}},
            "mlops:monitoring.promotionRequest.attempts must be a whole number from 1 to 10, got 11",
        ),
        (
            {"promotionRequest": {"attempt": 2}},
            "unknown key 'attempt' in mlops:monitoring.promotionRequest (did you mean 'attempts'?); "
            "allowed: attempts, github, timeoutS, webhookUrl",
        ),
        (
            {"retrain": {"trainconfig": "x.yaml"}},
            "unknown key 'trainconfig' in mlops:monitoring.retrain (did you mean 'trainConfig'?)",
        ),
        ({"retrain": {"trainConfig": ""}}, "mlops:monitoring.retrain.trainConfig must be a non-empty string, got ''"),
        ({"labels": 3}, "mlops:monitoring.labels must be a non-empty string, got 3"),
        (
            {"promoteTo": "stag ing"},
            "mlops:monitoring.promoteTo must be the name of a stack (letters, digits, '-', '_', '.'), got 'stag ing'",
        ),
        ({"promoteTo2": "staging"}, "unknown key 'promoteTo2' in mlops:monitoring (did you mean 'promoteTo'?)"),
        ({"schedule": "61 * * * *"}, "mlops:monitoring.schedule minute field: 61 is out of range 0-59"),
    ],
)
def test_each_bad_key_is_named_with_what_is_allowed(config: dict[str, object], expected: str) -> None:
    message = _error(config)
    assert message.startswith("stack 'dev': ")
    assert expected in message


@pytest.mark.parametrize("stack_file", sorted(STACKS.glob("Pulumi.*.yaml")), ids=lambda p: p.stem)
def test_every_stack_files_monitoring_section_parses(stack_file: Path) -> None:
    """`mlops monitor --env` parses the whole section, the scheduler's and the loop's keys included."""
    config = yaml.safe_load(stack_file.read_text()).get("config") or {}
    Thresholds.from_config(config.get("mlops:monitoring"), stack=stack_file.stem.removeprefix("Pulumi."))
