"""A promotion killed at each step, two promotions at once, and a restore that fails.

Real MLflow server (registry, audit log, lease), real model and predictions; the target's serving is
`FakeServing` (see promotion_target.py). After every case the champion alias, what the target serves,
what its configuration would serve next, and the audit log agree.
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable

import pytest

from contract import CHAMPION
from ml.promote import audit, flow
from ml.promote.flow import Outcome, Report, Target, promote
from ml.promote.promotion_policy import parse_policy
from ml.promote.recovery import recover
from ml.promote.versions import find_alias
from tests.faults.conftest import POLICY
from tests.faults.promotion_target import Applied, FakeServing

pytestmark = pytest.mark.integration


def _target(tracking_uri: str, serving: FakeServing, env: str | None = None) -> Target:
    return Target(env or f"prod-{uuid.uuid4().hex[:8]}", tracking_uri, parse_policy("prod", POLICY), serving)


def _promote(target: Target, model: str) -> Report:
    return promote(model, "dev", target.tracking_uri, target, version="1", alias=None, approved_by=None, say=print)


def _assert_agree(target: Target, serving: FakeServing, model: str, version: str | None, outcome: str) -> None:
    champion = find_alias(target.tracking_uri, model, CHAMPION)
    assert (champion.version if champion else None) == version
    assert serving.served_version == version
    assert serving.resolved_config() == version
    assert audit.unfinished(target.tracking_uri, target.name) == []
    last = audit.history(target.tracking_uri, model)[0]
    assert last.outcome == outcome, last
    if outcome == "promoted":
        assert last.target_version == version


def _raise_once(exc: BaseException, real: Callable[..., object]) -> Callable[..., object]:
    calls: list[int] = []

    def patched(*args: object, **kwargs: object) -> object:
        if not calls:
            calls.append(1)
            raise exc
        return real(*args, **kwargs)

    return patched


# (where the promotion dies, how, what --recover must end with)
KILL_POINTS = ["copy", "set-config", "rollout-before", "rollout-after", "smoke-test", "alias", "record-outcome"]


@pytest.mark.parametrize("where", KILL_POINTS)
def test_killed_promotion_then_recover_agrees(where, mlflow_server, candidate, serving, monkeypatch):
    target = _target(mlflow_server, serving)
    first = _promote(target, candidate)
    assert first.outcome == Outcome.PROMOTED, first.message
    _assert_agree(target, serving, candidate, first.version, "promoted")

    kill = KeyboardInterrupt(f"killed at {where}")
    if where == "copy":
        monkeypatch.setattr(flow, "copy_version", _raise_once(kill, flow.copy_version))
    elif where == "set-config":
        serving.faults["set_model_uri"] = [kill]
    elif where == "rollout-before":
        serving.faults["roll_out"] = [kill]
    elif where == "rollout-after":
        serving.faults["roll_out"] = [Applied(where)]
    elif where == "smoke-test":
        monkeypatch.setattr(flow, "smoke_test", _raise_once(SystemExit(1), flow.smoke_test))
    elif where == "alias":
        monkeypatch.setattr(flow, "_set_alias", _raise_once(kill, flow._set_alias))
    else:
        monkeypatch.setattr(audit.Attempt, "close", _raise_once(SystemExit(1), audit.Attempt.close))
    with pytest.raises((KeyboardInterrupt, SystemExit, Applied)):
        _promote(target, candidate)
    monkeypatch.undo()
    [interrupted] = audit.unfinished(target.tracking_uri, target.name)
    assert interrupted.steps[0] == "intent"

    # Nothing else may run on a target in doubt.
    blocked = _promote(target, candidate)
    assert blocked.outcome == Outcome.ERROR
    assert "--recover" in blocked.message

    recovered = recover(target, say=print)
    completes = where in {"alias", "record-outcome"}
    if completes:
        assert recovered.outcome == Outcome.PROMOTED, recovered.message
        new = interrupted.target_version
        assert new and new != first.version
        _assert_agree(target, serving, candidate, new, "promoted")
    else:
        assert recovered.outcome == Outcome.ROLLED_BACK, recovered.message
        _assert_agree(target, serving, candidate, first.version, "rolled_back")
    steps = audit.history(target.tracking_uri, candidate)[0].steps
    assert steps[0] == "intent" and "recovering" in steps
    assert steps[-1] == ("promoted" if completes else "rolled_back")

    # And the target takes the next promotion normally.
    again = _promote(target, candidate)
    assert again.outcome == Outcome.PROMOTED, again.message
    _assert_agree(target, serving, candidate, again.version, "promoted")


def test_killed_first_promotion_recovers_to_nothing_served(mlflow_server, candidate, serving):
    target = _target(mlflow_server, serving)
    serving.faults["roll_out"] = [Applied("killed once the new replicas served")]
    with pytest.raises(Applied):
        _promote(target, candidate)
    assert serving.served_version is not None
    assert recover(target, say=print).outcome == Outcome.ROLLED_BACK
    _assert_agree(target, serving, candidate, None, "rolled_back")


def test_failed_restore_is_its_own_outcome(mlflow_server, candidate, serving):
    target = _target(mlflow_server, serving)
    first = _promote(target, candidate)
    assert first.outcome == Outcome.PROMOTED, first.message

    # A rollout that fails, then a restore that fails: exit 5, recorded, and the target blocked until recovered.
    serving.faults["roll_out"] = [RuntimeError("replica never ready"), RuntimeError("cluster unreachable")]
    failed = _promote(target, candidate)
    assert failed.outcome == Outcome.RESTORE_FAILED == 5
    assert "replica never ready" in failed.message and "cluster unreachable" in failed.message
    assert audit.history(target.tracking_uri, candidate)[0].outcome == "rolled_back_failed"
    assert _promote(target, candidate).outcome == Outcome.ERROR
    assert find_alias(target.tracking_uri, candidate, CHAMPION).version == first.version  # type: ignore[union-attr]

    settled = recover(target, say=print)
    assert settled.outcome == Outcome.ROLLED_BACK, settled.message
    _assert_agree(target, serving, candidate, first.version, "rolled_back")
    assert "rolled_back_failed" in audit.history(target.tracking_uri, candidate)[0].steps


def _promote_in_child(tracking_uri: str, model: str, env: str, barrier: object, results: object) -> None:
    serving = FakeServing(tracking_uri, delay_s=3.0)
    try:
        target = _target(tracking_uri, serving, env)
        barrier.wait()  # type: ignore[attr-defined]
        report = _promote(target, model)
        results.put((int(report.outcome), report.message, report.version, serving.served_version))  # type: ignore[attr-defined]
    finally:
        serving.close()


def test_two_promotions_at_once_one_wins(mlflow_server, candidate):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    env = f"prod-{uuid.uuid4().hex[:8]}"
    children = [
        context.Process(target=_promote_in_child, args=(mlflow_server, candidate, env, barrier, results))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=600)
    assert [child.exitcode for child in children] == [0, 0], "a promoting child died: its traceback is above"
    reports = [results.get(timeout=10) for _ in children]
    outcomes = sorted(outcome for outcome, *_ in reports)
    assert outcomes == [Outcome.PROMOTED, Outcome.ERROR], reports
    winner = next(r for r in reports if r[0] == Outcome.PROMOTED)
    loser = next(r for r in reports if r[0] == Outcome.ERROR)
    assert "is being promoted by" in loser[1]
    assert find_alias(mlflow_server, candidate, CHAMPION).version == winner[2] == winner[3]  # type: ignore[union-attr]
    assert [e.outcome for e in audit.history(mlflow_server, candidate)] == ["promoted"]
