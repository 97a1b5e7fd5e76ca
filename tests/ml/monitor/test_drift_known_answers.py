"""Drift with known answers: none on fresh samples of the reference distribution, and the right column
named when one is moved."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ml.monitor import drift
from ml.monitor.thresholds import Thresholds
from tests.support.drift_data import CATEGORICAL, NUMERIC, make_frame

COLUMNS = NUMERIC + CATEGORICAL + ["_prediction", "_proba"]
SEEDS = 200
# Family-wise significance is 0.01 per run and the binned KS is conservative, so the run-level false
# alarm rate should sit near or below 1%; 3% leaves room for the asymptotic chi-squared and PSI.
FALSE_ALARM_BOUND = 0.03


def judge(profile: dict, frame, thresholds: Thresholds | None = None) -> drift.DriftResult:
    table = pa.Table.from_pandas(frame[COLUMNS], preserve_index=False)
    return drift.evaluate(drift.scan(drift.table_batches(table, 1000), profile), thresholds or Thresholds())


def test_false_alarm_rate_on_fresh_samples_is_below_bound(reference_profile: dict) -> None:
    alarms = [s for s in range(SEEDS) if judge(reference_profile, make_frame(2000, seed=1000 + s)).drift]
    rate = len(alarms) / SEEDS
    assert rate <= FALSE_ALARM_BOUND, f"false alarms in {len(alarms)} of {SEEDS} runs (seeds {alarms[:10]})"


def test_no_drift_on_a_sample_of_the_reference_itself(reference_frame, reference_profile: dict) -> None:
    for seed in range(20):
        result = judge(reference_profile, reference_frame.sample(3000, random_state=seed))
        assert not result.drift, [c.name for c in result.columns if c.drifted]
        assert result.data_quality_issues == []


@pytest.mark.parametrize("column", NUMERIC)
def test_a_shifted_numeric_feature_is_detected_and_named(reference_profile: dict, column: str) -> None:
    result = judge(reference_profile, make_frame(2000, seed=7, shift={column: 0.5}))
    assert column in result.drifted_features
    # Only the moved feature (and the prediction, which reads age and score) may drift.
    assert set(result.drifted_features) == {column}
    moved = next(c for c in result.columns if c.name == column)
    others = [c.psi for c in result.columns if c.name not in (column, "_prediction", "_proba")]
    assert moved.psi is not None and moved.psi > max(others)


def test_a_changed_category_mix_is_detected(reference_profile: dict) -> None:
    result = judge(reference_profile, make_frame(2000, seed=8, plan_probs=(0.2, 0.3, 0.5)))
    assert result.drifted_features == ["plan"]
    plan = next(c for c in result.columns if c.name == "plan")
    assert plan.chi2_statistic is not None and plan.p_value is not None and plan.p_value < 1e-6
    assert plan.jensen_shannon is not None and plan.jensen_shannon > 0.1


def test_prediction_drift_follows_a_shift_in_a_driving_feature(reference_profile: dict) -> None:
    result = judge(reference_profile, make_frame(2000, seed=9, shift={"score": 1.0}))
    assert result.prediction_drift
    assert "score" in result.drifted_features


def test_too_few_rows_are_reported_but_not_judged(reference_profile: dict) -> None:
    result = judge(reference_profile, make_frame(100, seed=3, shift={"age": 3.0}), Thresholds(min_rows=200))
    assert not result.judged and not result.drift
    age = next(c for c in result.columns if c.name == "age")
    assert age.psi is not None and age.psi > 1.0


def test_nulls_and_out_of_schema_values_are_quality_issues(reference_frame) -> None:
    from ml.profile import build_reference_profile

    spec = {
        "columns": {
            "age": {"type": "float", "min": 0, "max": 120},
            "plan": {"type": "category", "categories": ["basic", "plus", "pro"]},
        }
    }
    profile = build_reference_profile(reference_frame[["age", "plan"]], reference_frame["_prediction"], spec)
    live = make_frame(2000, seed=11)
    live.loc[:299, "age"] = None
    live.loc[300:399, "age"] = 200.0
    live.loc[400:499, "plan"] = "enterprise"
    table = pa.Table.from_pandas(live[["age", "plan", "_prediction"]], preserve_index=False)
    result = drift.evaluate(drift.scan([table], profile), Thresholds())
    issues = "\n".join(result.data_quality_issues)
    assert "age: null rate 15.0%" in issues
    assert "age: 5.0% of values outside the dataset spec" in issues
    assert "plan: 5.0% of values outside the dataset spec" in issues
    plan = next(c for c in result.columns if c.name == "plan")
    assert plan.summary["unseen"] == {"enterprise": 100}


def test_a_feature_missing_from_the_log_is_a_quality_issue(reference_profile: dict) -> None:
    frame = make_frame(1000, seed=12).drop(columns=["region"])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    result = drift.evaluate(drift.scan([table], reference_profile), Thresholds())
    assert result.missing_columns == ["region"]
    assert "column 'region' missing from the prediction log" in result.data_quality_issues
