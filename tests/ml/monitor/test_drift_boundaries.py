"""The drift decision pinned at its boundaries: "PSI above its threshold OR p-value below alpha", each half
on its own with the other statistic neutralised (PSI 0, p-value 1), at the defaults and at a set value.

The statistics themselves are checked against known answers in test_drift_known_answers and test_stats;
here they are replaced by fixed values so that only the decision is under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ml.monitor import drift, stats
from ml.monitor.thresholds import Thresholds
from ml.profile import build_reference_profile

NEUTRAL_PSI, NEUTRAL_P = 0.0, 1.0


@pytest.fixture(scope="module")
def profile() -> dict:
    reference = pd.DataFrame({"x": np.arange(1000.0) % 50, "c": ["a", "b", "c", "d"] * 250})
    return build_reference_profile(reference, np.tile([0, 1], 500))


def live(rows: int, *, x: object = 1.0, c: object = "a") -> pa.Table:
    return pa.table({"x": [x] * rows, "c": [c] * rows, "_prediction": [0, 1] * (rows // 2) + [0] * (rows % 2)})


@pytest.fixture
def statistics(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Every column's PSI and p-value, as the test sets them."""
    values = {"psi": NEUTRAL_PSI, "p": NEUTRAL_P}
    monkeypatch.setattr(stats, "psi_numeric", lambda ref, cur: values["psi"])
    monkeypatch.setattr(stats, "psi", lambda ref, cur: values["psi"])
    monkeypatch.setattr(stats, "ks_binned", lambda ref, cur: stats.TestResult(0.5, values["p"]))
    monkeypatch.setattr(stats, "chi_squared", lambda ref, cur: stats.TestResult(7.0, values["p"]))
    return values


def judge(profile: dict, table: pa.Table, thresholds: Thresholds) -> drift.DriftResult:
    return drift.evaluate(drift.scan([table], profile), thresholds)


def drifted(profile: dict, thresholds: Thresholds, rows: int = 300) -> set[str]:
    return {c.name for c in judge(profile, live(rows), thresholds).columns if c.drifted}


EVERY_COLUMN = {"x", "c", "_prediction"}


@pytest.mark.parametrize(
    ("psi", "thresholds", "expected"),
    [
        (0.2001, Thresholds(), EVERY_COLUMN),
        (0.2, Thresholds(), set()),
        (0.1999, Thresholds(), set()),
        (0.5001, Thresholds(psi_threshold=0.5), EVERY_COLUMN),
        (0.5, Thresholds(psi_threshold=0.5), set()),
        (0.0501, Thresholds(psi_threshold=0.05), EVERY_COLUMN),
        (0.0499, Thresholds(psi_threshold=0.05), set()),
    ],
)
def test_psi_alone_decides_with_the_p_value_neutral(profile, statistics, psi, thresholds, expected) -> None:
    statistics.update(psi=psi, p=NEUTRAL_P)
    assert drifted(profile, thresholds) == expected


# Three columns are tested, so each test gets a third of the family-wise significance (Bonferroni).
@pytest.mark.parametrize(
    ("p", "thresholds", "expected"),
    [
        (0.01 / 3 * 0.999, Thresholds(), EVERY_COLUMN),
        (0.01 / 3, Thresholds(), set()),
        (0.01 / 3 * 1.001, Thresholds(), set()),
        (0.05 / 3 * 0.999, Thresholds(p_value=0.05), EVERY_COLUMN),
        (0.05 / 3 * 1.001, Thresholds(p_value=0.05), set()),
    ],
)
def test_the_p_value_alone_decides_with_psi_neutral(profile, statistics, p, thresholds, expected) -> None:
    statistics.update(psi=NEUTRAL_PSI, p=p)
    assert drifted(profile, thresholds) == expected


def test_the_significance_is_split_over_the_columns_actually_tested(profile, statistics) -> None:
    statistics.update(psi=NEUTRAL_PSI, p=0.004)
    only_x = pa.table({"x": [1.0] * 300, "_prediction": [0] * 300})
    result = judge(profile, only_x, Thresholds())
    assert result.alpha == 0.005
    assert {c.name for c in result.columns if c.drifted} == {"x", "_prediction"}
    statistics.update(p=0.006)
    assert not judge(profile, only_x, Thresholds()).drift


def test_both_statistics_neutral_is_no_drift(profile, statistics) -> None:
    result = judge(profile, live(300), Thresholds())
    assert not result.drift and result.judged
    assert [c.drifted for c in result.columns] == [False, False, False]


@pytest.mark.parametrize(("rows", "judged"), [(199, False), (200, True)])
def test_a_column_is_judged_from_min_rows_on(profile, statistics, rows, judged) -> None:
    statistics.update(psi=5.0, p=0.0)
    result = judge(profile, live(rows), Thresholds())
    assert result.judged is judged
    assert result.drift is judged
    assert {c.name for c in result.columns if c.drifted} == (EVERY_COLUMN if judged else set())


def test_a_column_with_only_nulls_is_not_judged_for_drift(profile, statistics) -> None:
    statistics.update(psi=5.0, p=0.0)
    table = pa.table({"x": pa.array([None] * 300, pa.float64()), "c": ["a"] * 300, "_prediction": [0] * 300})
    result = judge(profile, table, Thresholds())
    assert {c.name for c in result.columns if c.drifted} == {"c", "_prediction"}


def test_the_verdict_names_features_and_the_prediction_apart(profile, statistics) -> None:
    statistics.update(psi=1.0)
    result = judge(profile, live(300), Thresholds())
    assert sorted(result.drifted_features) == ["c", "x"]
    assert result.prediction_drift and result.drift
    assert result.columns[0].name == "_prediction"  # the prediction first, then drifted features
    summary = result.to_dict()
    assert summary["drift"] is True and summary["alpha_per_test"] == pytest.approx(0.01 / 3)
    assert sorted(summary["drifted_features"]) == ["c", "x"]


def test_each_column_reports_its_statistics(profile, statistics) -> None:
    statistics.update(psi=0.25, p=0.5)
    columns = {c.name: c for c in judge(profile, live(300), Thresholds()).columns}
    x, c = columns["x"], columns["c"]
    assert (x.kind, x.role, x.rows, x.psi, x.ks_statistic, x.p_value) == ("numeric", "feature", 300, 0.25, 0.5, 0.5)
    assert (c.kind, c.chi2_statistic, c.p_value, c.psi) == ("categorical", 7.0, 0.5, 0.25)
    assert x.bins["reference"] and sum(x.bins["current"]) == 300
    assert c.bins["categories"] == ["a", "b", "c", "d"] and c.bins["current"][:4] == [300, 0, 0, 0]
    assert columns["_prediction"].role == "prediction"


@pytest.mark.parametrize(
    ("nulls", "rise", "flagged"),
    [(31, 0.1, True), (30, 0.1, False), (16, 0.05, True), (15, 0.05, False)],
)
def test_a_null_rate_rise_is_a_quality_issue_above_its_limit(profile, statistics, nulls, rise, flagged) -> None:
    x = pa.array([None] * nulls + [1.0] * (300 - nulls), pa.float64())
    table = pa.table({"x": x, "c": ["a"] * 300, "_prediction": [0] * 300})
    result = judge(profile, table, Thresholds(null_rate_increase=rise))
    issues = [i for i in result.data_quality_issues if i.startswith("x:")]
    assert issues == ([f"x: null rate {nulls / 300:.1%} vs 0.0% in the reference"] if flagged else [])


@pytest.mark.parametrize(("bad", "limit", "flagged"), [(4, 0.01, True), (3, 0.01, False), (31, 0.1, True)])
def test_values_outside_the_spec_are_a_quality_issue_above_their_share(bad, limit, flagged) -> None:
    reference = pd.DataFrame({"x": np.arange(1000.0) % 50})
    spec = {"columns": {"x": {"type": "float", "min": 0, "max": 100}}}
    profile = build_reference_profile(reference, None, spec)
    table = pa.table({"x": [500.0] * bad + [1.0] * (300 - bad)})
    result = judge(profile, table, Thresholds(out_of_schema_rate=limit))
    assert result.data_quality_issues == ([f"x: {bad / 300:.1%} of values outside the dataset spec"] if flagged else [])


def test_quality_issues_are_not_reported_below_min_rows(profile, statistics) -> None:
    table = pa.table({"x": pa.array([None] * 100, pa.float64()), "_prediction": [0] * 100})
    result = judge(profile, table, Thresholds())
    assert not result.judged
    assert result.data_quality_issues == []
    assert judge(profile, table, Thresholds(min_rows=100)).data_quality_issues == [
        "column 'c' missing from the prediction log",
        "x: null rate 100.0% vs 0.0% in the reference",
    ]


def test_the_statistics_are_those_of_the_reference_and_current_counts(profile) -> None:
    frame = pd.DataFrame({"x": (np.arange(300.0) % 50) + 3, "c": ["a", "b", "b", "d", "d", "d"] * 50})
    table = pa.Table.from_pandas(frame.assign(_prediction=[0, 1, 1] * 100), preserve_index=False)
    for column in judge(profile, table, Thresholds()).columns:
        ref, cur = np.array(column.bins["reference"]), np.array(column.bins["current"])
        if column.kind == "numeric":
            assert column.bins["edges"] == profile["features"]["x"]["edges"]
            assert column.psi == pytest.approx(stats.psi_numeric(ref, cur))
            assert column.p_value == pytest.approx(stats.ks_binned(ref, cur).p_value)
        else:
            assert column.psi == pytest.approx(stats.psi(ref, cur))
            assert column.p_value == pytest.approx(stats.chi_squared(ref, cur).p_value)
            assert column.jensen_shannon == pytest.approx(stats.jensen_shannon(ref, cur))


def test_rows_add_up_over_batches(profile, statistics) -> None:
    state = drift.scan([live(150), live(150)], profile)
    assert state.rows == 300
    assert drift.evaluate(state, Thresholds()).judged


def test_a_rise_is_measured_from_the_reference_null_rate(statistics) -> None:
    reference = pd.DataFrame({"x": [None] * 100 + list(np.arange(900.0) % 50)})
    profile = build_reference_profile(reference)
    x = pa.array([None] * 60 + [1.0] * 240, pa.float64())  # 20% nulls against 10% in the reference
    assert judge(profile, pa.table({"x": x}), Thresholds(null_rate_increase=0.15)).data_quality_issues == []
    assert judge(profile, pa.table({"x": x}), Thresholds(null_rate_increase=0.05)).data_quality_issues == [
        "x: null rate 20.0% vs 10.0% in the reference"
    ]


def test_a_window_without_any_profiled_column_tests_nothing(profile) -> None:
    result = judge(profile, pa.table({"other": [1] * 300}), Thresholds())
    assert (result.alpha, result.columns, result.missing_columns) == (0.01, [], ["x", "c"])


def test_drifted_columns_come_first_by_psi(profile, monkeypatch) -> None:
    psi = iter([0.5, 0.1, 0.9])
    monkeypatch.setattr(stats, "psi_numeric", lambda ref, cur: next(psi))
    monkeypatch.setattr(stats, "psi", lambda ref, cur: next(psi))
    table = live(300)
    ordered = [(c.name, c.drifted) for c in judge(profile, table, Thresholds(p_value=1e-12)).columns]
    assert ordered[0][0] == "_prediction"
    assert [d for _, d in ordered[1:]] == sorted((d for _, d in ordered[1:]), reverse=True)


def test_the_report_has_every_finding(profile, statistics) -> None:
    statistics.update(psi=1.0)
    report = judge(profile, pa.table({"x": [1.0] * 300, "_prediction": [0] * 300}), Thresholds()).to_dict()
    assert {k: v for k, v in report.items() if k != "columns"} == {
        "rows": 300,
        "judged": True,
        "alpha_per_test": 0.005,
        "drift": True,
        "drifted_features": ["x"],
        "prediction_drift": True,
        "missing_columns": ["c"],
        "data_quality_issues": ["column 'c' missing from the prediction log"],
    }
    assert [c["name"] for c in report["columns"]] == ["_prediction", "x"]
