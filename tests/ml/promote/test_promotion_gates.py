"""Each promotion gate pinned at its boundary, on local model versions (no tracking server).

A worse candidate is refused and an equal one accepted at the exact tolerance, in both metric directions;
a drifted holdout and a changed signature are refused; thresholds are inclusive. The numbers are powers of
two so that "exactly at the tolerance" is exact in floating point.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from contract import TAG_GATES, TAG_GATES_PASSED
from ml.promote.checks import evaluate_gates
from ml.promote.promotion_policy import parse_policy
from ml.promote.versions import ModelVersionRef
from ml.registry import HOLDOUT_ARTIFACT, PROFILE_ARTIFACT

TRUTH = [0, 1, 0, 1, 0, 1, 0, 1]


class Answers:
    """A model that answers row i of the holdout with answers[i] (the holdout's `i` column)."""

    def __init__(self, answers: Sequence[float]) -> None:
        self.answers = np.asarray(answers)

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return self.answers[rows["i"].to_numpy()]


def right_on(correct: int) -> Answers:
    """A classifier right on the first `correct` of the 8 holdout rows: accuracy correct/8."""
    return Answers([t if i < correct else 1 - t for i, t in enumerate(TRUTH)])


def off_by(error: float) -> Answers:
    """A regressor whose every answer is `error` above the truth: mae and rmse equal `error`."""
    return Answers([t + error for t in TRUTH])


@dataclass(frozen=True)
class LocalVersion(ModelVersionRef):
    """A model version whose model, signature and artifacts are local objects."""

    model: Any = None
    schema: tuple[tuple[str, str, bool], ...] = (("i", "long", True),)
    artifacts: Mapping[str, Path] = field(default_factory=dict)

    def load(self) -> Any:
        return self.model

    def input_schema(self) -> list[dict[str, Any]]:
        return [{"name": n, "type": t, "required": r} for n, t, r in self.schema]

    def download(self, artifact_path: str, dst: Path) -> Path:
        return self.artifacts[artifact_path]


def version(
    number: str, model: Any = None, *, metrics: Mapping[str, float] | None = None, task: str = "binary", **kw: Any
) -> LocalVersion:
    tags = {"task": task, "target": "y", TAG_GATES_PASSED: "true", TAG_GATES: "[]"}
    tags.update(kw.pop("tags", {}))
    return LocalVersion(
        tracking_uri="file:///nowhere",
        name="m",
        version=number,
        run_id=f"run{number}",
        tags=tags,
        metrics=dict(metrics or {}),
        params={},
        model=model,
        **kw,
    )


@pytest.fixture
def holdout(tmp_path: Path) -> dict[str, Path]:
    path = tmp_path / HOLDOUT_ARTIFACT
    pd.DataFrame({"i": range(len(TRUTH)), "y": TRUTH}).to_parquet(path)
    return {HOLDOUT_ARTIFACT: path}


def gate(results: list, name: str):
    [found] = [g for g in results if g.name == name]
    return found


def gates_against(policy: Mapping[str, Any], candidate_model: Any, champion_model: Any, artifacts, **kw: Any):
    candidate = version("2", candidate_model, artifacts=artifacts, **kw)
    champion = version("1", champion_model, artifacts=artifacts, **kw)
    return evaluate_gates(parse_policy("prod", policy), candidate, champion, approved_by=None)


# --- against the champion, on the same held-out rows -----------------------------------------------------


@pytest.mark.parametrize(
    ("candidate_right", "tolerance", "passed"),
    [
        (4, 0.25, True),  # worse by exactly the tolerance: accepted
        (4, 0.125, False),  # worse by more than the tolerance: refused
        (6, 0.0, True),  # equal with no tolerance: accepted
        (5, 0.0, False),  # worse by one row with no tolerance: refused
        (7, 0.0, True),  # better: accepted
    ],
)
def test_a_candidate_may_be_worse_than_the_champion_only_by_the_tolerance(
    holdout, candidate_right, tolerance, passed
) -> None:
    policy = {"championTolerance": {"accuracy": tolerance}}
    results = gates_against(policy, right_on(candidate_right), right_on(6), holdout)
    result = gate(results, "champion:accuracy")
    assert result.passed is passed
    assert f"accuracy {candidate_right / 8:.4f} vs champion v1 0.7500 on 8 held-out rows" in result.detail
    assert f"(tolerance {tolerance:g})" in result.detail


@pytest.mark.parametrize(
    ("candidate_error", "champion_error", "passed"),
    [(0.5, 0.25, False), (0.25, 0.5, True), (0.5, 0.5, True)],
)
@pytest.mark.parametrize("metric", ["mae", "rmse"])
def test_for_an_error_metric_lower_is_better(holdout, metric, candidate_error, champion_error, passed) -> None:
    results = gates_against(
        {"championTolerance": {metric: 0}}, off_by(candidate_error), off_by(champion_error), holdout, task="regression"
    )
    assert gate(results, f"champion:{metric}").passed is passed


def test_a_declared_direction_wins_over_the_metric_name(holdout) -> None:
    # r2 is higher-is-better by name; a threshold declaring it lower-is-better flips the comparison.
    policy = {"thresholds": [{"metric": "r2", "threshold": 100, "higherIsBetter": False}]}
    results = gates_against(policy, off_by(0.5), off_by(0.25), holdout, task="regression")
    assert gate(results, "champion:r2").passed is True
    results = gates_against(policy, off_by(0.25), off_by(0.5), holdout, task="regression")
    assert gate(results, "champion:r2").passed is False


def test_without_a_tolerance_the_threshold_metrics_must_not_get_worse(holdout) -> None:
    policy = {"thresholds": [{"metric": "accuracy", "threshold": 0}]}
    candidate = {"metrics": {"test_accuracy": 0.5}}
    results = gates_against(policy, right_on(5), right_on(6), holdout, **candidate)
    assert gate(results, "champion:accuracy").passed is False
    assert "(tolerance 0)" in gate(results, "champion:accuracy").detail
    results = gates_against(policy, right_on(6), right_on(6), holdout, **candidate)
    assert gate(results, "champion:accuracy").passed is True


def test_a_policy_without_any_metric_compares_nothing(holdout) -> None:
    results = gates_against({}, right_on(0), right_on(8), holdout)
    assert gate(results, "champion").passed is True
    assert gate(results, "champion").detail == "the policy compares no metric against the champion"


def test_a_metric_the_task_does_not_have_is_refused(holdout) -> None:
    result = gate(gates_against({"championTolerance": {"rmse": 1}}, right_on(8), right_on(8), holdout), "champion:rmse")
    assert (result.passed, result.detail) == (False, "'rmse' cannot be computed for task binary")


@pytest.mark.parametrize("target", ["", "not-a-column"])
def test_a_holdout_without_its_target_is_refused(holdout, target) -> None:
    results = gates_against(
        {"championTolerance": {"accuracy": 1}}, right_on(8), right_on(8), holdout, tags={"target": target}
    )
    result = gate(results, "champion")
    assert (result.passed, result.detail) == (False, "the candidate's holdout has no target column tag: retrain it")


# --- thresholds and the training checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "value", "passed"),
    [
        ({"metric": "f1", "threshold": 0.75}, 0.75, True),
        ({"metric": "f1", "threshold": 0.75}, 0.7499, False),
        ({"metric": "rmse", "threshold": 2.5, "higherIsBetter": False}, 2.5, True),
        ({"metric": "rmse", "threshold": 2.5, "higherIsBetter": False}, 2.5001, False),
    ],
)
def test_thresholds_are_inclusive_in_their_direction(threshold, value, passed) -> None:
    policy = parse_policy("prod", {"thresholds": [threshold]})
    candidate = version("2", metrics={f"test_{threshold['metric']}": value})
    [result] = [g for g in evaluate_gates(policy, candidate, None, None) if g.name.startswith("threshold:")]
    assert (result.name, result.passed) == (f"threshold:{threshold['metric']}", passed)
    sign = "<=" if threshold.get("higherIsBetter") is False else ">="
    assert (
        result.detail
        == f"{threshold['metric']} = {value:.4f}, required {threshold['metric']} {sign} {threshold['threshold']:g}"
    )


def test_a_missing_metric_fails_its_threshold() -> None:
    policy = parse_policy("prod", {"thresholds": [{"metric": "f1", "threshold": 0}]})
    result = gate(evaluate_gates(policy, version("2", metrics={"test_recall": 1.0}), None, None), "threshold:f1")
    assert (result.passed, result.detail) == (False, "the candidate has no 'f1' metric")


@pytest.mark.parametrize(
    ("tags", "passed", "detail"),
    [
        ({}, True, "all data and behavioural checks passed"),
        (
            {
                TAG_GATES_PASSED: "false",
                TAG_GATES: json.dumps([{"name": "schema", "passed": False}, {"name": "ok", "passed": True}]),
            },
            False,
            "failed: schema",
        ),
        ({TAG_GATES_PASSED: "false", TAG_GATES: "[]"}, False, "failed: false"),
    ],
)
def test_the_training_checks_gate_follows_the_recorded_result(tags, passed, detail) -> None:
    result = gate(evaluate_gates(parse_policy("prod", {}), version("2", tags=tags), None, None), "training-checks")
    assert (result.passed, result.detail) == (passed, detail)


def test_a_candidate_without_a_training_result_is_refused() -> None:
    candidate = version("2")
    candidate = LocalVersion(**{**candidate.__dict__, "tags": {"task": "binary"}})
    result = gate(evaluate_gates(parse_policy("prod", {}), candidate, None, None), "training-checks")
    assert (result.passed, result.detail) == (False, f"the candidate carries no '{TAG_GATES_PASSED}' tag: retrain it")


def test_without_a_champion_only_the_candidate_s_own_gates_run() -> None:
    results = evaluate_gates(parse_policy("prod", {"driftCheck": True}), version("2"), None, None)
    assert [(g.name, g.passed, g.detail) for g in results] == [
        ("training-checks", True, "all data and behavioural checks passed"),
        ("champion", True, "no champion yet in the target"),
    ]


@pytest.mark.parametrize(("approved_by", "passed"), [("alice", True), (None, False), ("", False)])
def test_an_approval_is_required_only_where_the_policy_asks(approved_by, passed) -> None:
    results = evaluate_gates(parse_policy("prod", {"requireApproval": True}), version("2"), None, approved_by)
    result = gate(results, "approval")
    assert result.passed is passed
    assert result.detail == (
        "approved by alice"
        if passed
        else "this environment requires an approval: pass --approve (or let CI record one)"
    )
    assert "approval" not in {g.name for g in evaluate_gates(parse_policy("prod", {}), version("2"), None, None)}


# --- signature -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate_schema", "passed", "detail"),
    [
        ((("i", "long", True),), True, "compatible with champion v1"),
        ((("i", "long", True), ("extra", "double", False)), True, "compatible with champion v1"),
        ((), True, "compatible with champion v1"),
        ((("i", "double", True),), False, "'i' is double, the champion takes long"),
        ((("i", "long", True), ("extra", "double", True)), False, "new required input 'extra'"),
        (
            (("i", "string", True), ("extra", "double", True)),
            False,
            "'i' is string, the champion takes long; new required input 'extra'",
        ),
    ],
)
def test_a_changed_signature_is_refused(holdout, candidate_schema, passed, detail) -> None:
    candidate = version("2", right_on(8), artifacts=holdout, schema=candidate_schema)
    champion = version("1", right_on(8), artifacts=holdout)
    result = gate(evaluate_gates(parse_policy("prod", {}), candidate, champion, None), "signature")
    assert (result.passed, result.detail) == (passed, detail)


# --- drift of the candidate's data against the champion's reference ---------------------------------------


def drift_versions(tmp_path: Path, shift: float, rows: int = 2000) -> tuple[LocalVersion, LocalVersion]:
    from ml.profile import build_reference_profile

    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 4000), "i": np.arange(4000) % 8})
    (tmp_path / PROFILE_ARTIFACT).write_text(json.dumps(build_reference_profile(reference)))
    holdout = pd.DataFrame({"x": rng.normal(shift, 1, rows), "i": np.arange(rows) % 8})
    holdout["y"] = np.asarray(TRUTH)[holdout["i"]]
    holdout.to_parquet(tmp_path / HOLDOUT_ARTIFACT)
    artifacts = {HOLDOUT_ARTIFACT: tmp_path / HOLDOUT_ARTIFACT, PROFILE_ARTIFACT: tmp_path / PROFILE_ARTIFACT}
    return version("2", right_on(8), artifacts=artifacts), version("1", right_on(8), artifacts=artifacts)


@pytest.mark.parametrize(("shift", "passed"), [(0.0, True), (1.0, False)])
def test_a_drifted_holdout_is_refused(tmp_path, shift, passed) -> None:
    candidate, champion = drift_versions(tmp_path, shift)
    result = gate(evaluate_gates(parse_policy("prod", {"driftCheck": True}), candidate, champion, None), "drift")
    assert result.passed is passed
    assert result.detail == (
        "no feature drifted against champion v1's reference (2000 rows)" if passed else "drift in x"
    )


def test_the_drift_gate_runs_only_where_the_policy_asks(tmp_path) -> None:
    candidate, champion = drift_versions(tmp_path, 1.0)
    results = evaluate_gates(parse_policy("prod", {}), candidate, champion, None)
    assert "drift" not in {g.name for g in results}


def test_the_drift_gate_uses_the_policy_s_psi_threshold(tmp_path) -> None:
    # 200 rows moved by 0.1 sd: a PSI of about 0.03 and a KS p-value of about 0.97, so only the PSI decides.
    candidate, champion = drift_versions(tmp_path, 0.1, rows=200)
    for threshold, passed in ((0.02, False), (0.2, True)):
        policy = parse_policy("prod", {"driftCheck": True, "driftPsiThreshold": threshold})
        assert gate(evaluate_gates(policy, candidate, champion, None), "drift").passed is passed, threshold


def test_a_small_drifted_holdout_is_judged_all_the_same(tmp_path) -> None:
    # Monitoring waits for minRows; the gate judges whatever held-out rows the candidate has.
    candidate, champion = drift_versions(tmp_path, 1.0, rows=100)
    result = gate(evaluate_gates(parse_policy("prod", {"driftCheck": True}), candidate, champion, None), "drift")
    assert (result.passed, result.detail) == (False, "drift in x")


def test_every_drifted_feature_is_named(tmp_path) -> None:
    candidate, champion = drift_versions(tmp_path, 1.0)
    holdout = pd.read_parquet(tmp_path / HOLDOUT_ARTIFACT)
    holdout["i"] = 0
    holdout.to_parquet(tmp_path / HOLDOUT_ARTIFACT)
    result = gate(evaluate_gates(parse_policy("prod", {"driftCheck": True}), candidate, champion, None), "drift")
    assert result.detail.startswith("drift in ") and sorted(result.detail[9:].split(", ")) == ["i", "x"]


def test_each_failed_training_check_is_named() -> None:
    checks = [{"name": "schema", "passed": False}, {"name": "slices", "passed": False}, {"name": "ok", "passed": True}]
    tags = {TAG_GATES_PASSED: "false", TAG_GATES: json.dumps(checks)}
    result = gate(evaluate_gates(parse_policy("prod", {}), version("2", tags=tags), None, None), "training-checks")
    assert result.detail == "failed: schema, slices"


def test_every_threshold_is_checked_after_a_missing_metric() -> None:
    thresholds = [{"metric": "f1", "threshold": 0}, {"metric": "recall", "threshold": 0.5}]
    results = evaluate_gates(
        parse_policy("prod", {"thresholds": thresholds}), version("2", metrics={"recall": 0.4}), None, None
    )
    assert [(g.name, g.passed) for g in results if g.name.startswith("threshold:")] == [
        ("threshold:f1", False),
        ("threshold:recall", False),
    ]


class Scored(Answers):
    """A classifier with probabilities, so that roc_auc can be computed for it."""

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        p = self.predict(rows).astype(float)
        return np.column_stack([1 - p, p])


def test_a_metric_only_one_model_has_is_refused_and_the_others_still_compared(holdout) -> None:
    policy = {"championTolerance": {"roc_auc": 0, "accuracy": 0}}
    results = gates_against(policy, Scored(TRUTH), right_on(8), holdout)
    assert (gate(results, "champion:roc_auc").passed, gate(results, "champion:roc_auc").detail) == (
        False,
        "'roc_auc' cannot be computed for task binary",
    )
    assert gate(results, "champion:accuracy").passed is True


def test_a_candidate_without_a_task_tag_is_scored_as_a_binary_classifier(holdout) -> None:
    candidate = version("2", right_on(8), artifacts=holdout)
    candidate = LocalVersion(**{**candidate.__dict__, "tags": {k: v for k, v in candidate.tags.items() if k != "task"}})
    champion = version("1", right_on(8), artifacts=holdout)
    results = evaluate_gates(parse_policy("prod", {"championTolerance": {"mae": 0}}), candidate, champion, None)
    assert gate(results, "champion:mae").detail == "'mae' cannot be computed for task binary"


def test_a_gate_result_is_a_plain_mapping() -> None:
    from ml.promote.checks import GateResult

    assert GateResult("drift", False, "drift in x").to_dict() == {
        "name": "drift",
        "passed": False,
        "detail": "drift in x",
    }
