"""The promotion policy a stack declares: parsed into typed objects, bad keys named."""

from __future__ import annotations

import pytest

from ml.promote.flow import _serving_reference
from ml.promote.promotion_policy import Mode, PolicyError, Threshold, parse_policy


def test_a_full_policy_parses_into_typed_objects():
    policy = parse_policy(
        "prod",
        {
            "mode": "dry_run",
            "requireApproval": True,
            "thresholds": [
                {"metric": "roc_auc", "threshold": 0.9},
                {"metric": "rmse", "threshold": 3, "higherIsBetter": False},
            ],
            "championTolerance": {"roc_auc": 0.01},
            "driftCheck": "true",
            "probeRows": 5,
        },
    )
    assert policy.mode is Mode.DRY_RUN
    assert policy.require_approval and policy.drift_check
    assert policy.thresholds == (
        Threshold(metric="roc_auc", threshold=0.9, higher_is_better=True),
        Threshold(metric="rmse", threshold=3.0, higher_is_better=False),
    )
    assert policy.champion_tolerance == {"roc_auc": 0.01}
    assert policy.probe_rows == 5


def test_a_policy_is_frozen():
    policy = parse_policy("prod", {"probeRows": 5})
    with pytest.raises(ValueError, match="frozen"):
        policy.probe_rows = 1  # type: ignore[misc]


def test_no_section_means_enabled_gates_without_approval():
    policy = parse_policy("local", None)
    assert policy.mode is Mode.ENABLED
    assert not policy.require_approval
    assert policy.thresholds == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"mode": "off"}, r"mlops:promotion.mode = 'off'; allowed: enabled, dry_run"),
        ({"thresholds": [{"metric": "f1"}]}, r"thresholds\[0\] needs 'metric' and 'threshold'"),
        ({"thresholds": [{"metric": "f1", "threshold": "high"}]}, r"thresholds\[0\].threshold must be a number"),
        ({"requireApproval": "yes"}, r"requireApproval must be true or false"),
        ({"championTolerance": [0.1]}, r"championTolerance must map metric -> tolerance"),
        ({"probeRows": 0}, r"probeRows must be at least 1"),
        ({"probeRows": "many"}, r"probeRows must be a number, got 'many'"),
        ({"gates": {}}, r"unknown key 'gates' in mlops:promotion; allowed: championTolerance, driftCheck"),
        (
            {"requireApprovel": True},
            r"unknown key 'requireApprovel' in mlops:promotion \(did you mean 'requireApproval'\?\)",
        ),
        (
            {"thresholds": [{"metric": "f1", "threshold": 1, "higherIsBeter": False}]},
            r"unknown key 'higherIsBeter' in mlops:promotion.thresholds\[0\] \(did you mean 'higherIsBetter'\?\)",
        ),
    ],
)
def test_bad_policies_name_the_stack_and_key(raw, message):
    with pytest.raises(PolicyError, match=rf"stack 'prod': .*{message}"):
        parse_policy("prod", raw)


def test_thresholds_and_directions():
    assert Threshold(metric="f1", threshold=0.9).passes(0.9)
    assert not Threshold(metric="f1", threshold=0.9).passes(0.89)
    assert Threshold(metric="rmse", threshold=2.0, higher_is_better=False).passes(1.5)
    policy = parse_policy("x", {"thresholds": [{"metric": "custom", "threshold": 1, "higherIsBetter": False}]})
    assert policy.direction("custom") is False
    assert policy.direction("mae") is False
    assert policy.direction("roc_auc") is True


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("", "models:/m@champion"),
        ("models:/m@champion", "models:/m@champion"),
        ("models:/m/3", "models:/m/7"),
        ("models:/other/3", "models:/other/3"),
    ],
)
def test_pinned_references_move_and_alias_references_stay(current, expected):
    assert _serving_reference(current, "m", "7") == expected
