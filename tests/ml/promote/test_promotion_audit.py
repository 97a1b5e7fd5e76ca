"""The promotion audit log keeps what it is given: long gate results, attempts and their steps."""

from __future__ import annotations

import uuid

import pytest

from ml.promote import audit
from ml.promote.flow import Outcome
from mlops.cli.promote import EXIT_CODES

pytestmark = pytest.mark.integration


def _entry(model: str, env: str, **changes: object) -> audit.AuditEntry:
    fields: dict[str, object] = dict(
        action="promote",
        outcome="refused",
        model=model,
        source_env="dev",
        target_env=env,
        source_version="3",
        target_version="",
        previous_version="1",
        approved_by="",
        reason="",
        gates=[],
    )
    fields.update(changes)
    return audit.AuditEntry(**fields)  # type: ignore[arg-type]


def test_gate_results_and_reasons_longer_than_a_tag_round_trip(mlflow_server, model_name):
    gates = [{"name": f"threshold:m{i}", "passed": i % 2 == 0, "detail": "é" + "x" * 300} for i in range(60)]
    reason = "refused: " + "; ".join(f"{g['name']}: {g['detail']}" for g in gates)
    assert len(reason) > 3 * audit.TAG_CHUNK
    audit.record(mlflow_server, _entry(model_name, "prod", gates=gates, reason=reason))
    [back] = audit.history(mlflow_server, model_name)
    assert back.gates == gates
    assert back.reason == reason


def test_an_attempt_is_unfinished_until_it_has_an_outcome(mlflow_server, model_name):
    env = f"prod-{uuid.uuid4().hex[:8]}"
    attempt = audit.open_attempt(
        mlflow_server, _entry(model_name, env, outcome=audit.IN_PROGRESS, promotion_id="p1", serving_uri_before="x")
    )
    attempt.step("copied", target_version="4")
    [pending] = audit.unfinished(mlflow_server, env)
    assert (pending.promotion_id, pending.steps, pending.target_version) == ("p1", ["intent", "copied"], "4")
    assert pending.serving_uri_before == "x"
    attempt.close(audit.RESTORE_FAILED, "restore failed")
    assert [e.outcome for e in audit.unfinished(mlflow_server, env)] == [audit.RESTORE_FAILED]
    audit.Attempt(mlflow_server, attempt.run_id, pending.steps).close("rolled_back", "undone")
    assert audit.unfinished(mlflow_server, env) == []
    assert audit.history(mlflow_server, model_name)[0].outcome == "rolled_back"


def test_every_exit_code_is_documented():
    for outcome in Outcome:
        assert f"{int(outcome)} " in EXIT_CODES
    assert Outcome.RESTORE_FAILED == 5
