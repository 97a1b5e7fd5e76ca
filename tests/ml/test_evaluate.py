"""Metrics, gates, the custom transformer and the preprocessing pipeline (unit tests, no services)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ml.evaluate import classification_metrics, metrics_of, predict, regression_metrics, write_plots
from ml.features import QuantileClipper, build_preprocessor, prepare_features
from ml.gates import GatesConfig, InvarianceGate, MetricGate, SliceGate, gates_passed, run_gates
from ml.spec import Task, parse_dataset_spec
from ml.training_config import FeaturesConfig


def test_binary_metrics_by_hand() -> None:
    y_true = np.array([0, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    out = classification_metrics(y_true, y_pred, proba, [0, 1], Task.BINARY)
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["f1"] == pytest.approx(2 / 3)
    # positives' scores 0.8, 0.7, 0.4 vs negatives' 0.1, 0.6: 5 of 6 pairs ordered correctly
    assert out["roc_auc"] == pytest.approx(5 / 6)


def test_multiclass_metrics_are_macro_and_roc_auc_needs_every_class() -> None:
    y_true = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2]])
    out = classification_metrics(y_true, proba.argmax(axis=1), proba, [0, 1, 2], Task.MULTICLASS)
    assert out["accuracy"] == pytest.approx(0.75) and out["recall"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert "roc_auc" in out
    single = classification_metrics(np.array([1, 1]), np.array([1, 0]), proba[:2, :2], [0, 1], Task.BINARY)
    assert "roc_auc" not in single and single["accuracy"] == 0.5


def test_regression_metrics_by_hand() -> None:
    out = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert out["mae"] == pytest.approx(2 / 3)
    assert out["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert out["r2"] == pytest.approx(1 - 4 / 2)


def test_quantile_clipper_is_a_scikit_learn_estimator() -> None:
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(QuantileClipper())


def test_quantile_clipper_clips_to_training_quantiles_and_keeps_nans() -> None:
    train = np.arange(101, dtype=float).reshape(-1, 1)
    clipper = QuantileClipper(lower=0.1, upper=0.9).fit(train)
    assert clipper.lower_bounds_[0] == pytest.approx(10.0) and clipper.upper_bounds_[0] == pytest.approx(90.0)
    out = clipper.transform(np.array([[-5.0], [50.0], [1e9], [np.nan]]))
    assert out[:3, 0].tolist() == [10.0, 50.0, 90.0] and np.isnan(out[3, 0])
    with pytest.raises(ValueError, match="0 <= lower < upper <= 1"):
        QuantileClipper(lower=0.9, upper=0.1).fit(train)


SPEC = parse_dataset_spec(
    {
        "name": "toy",
        "source": {"uri": "x.csv"},
        "target": "y",
        "task": "binary",
        "columns": {"x": {"type": "float", "nullable": True}, "noise": {"type": "float"}, "c": {"type": "category"}},
    },
    Path("."),
)


@pytest.fixture(scope="module")
def toy() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=600)
    frame = pd.DataFrame(
        {"x": x, "noise": rng.normal(size=600), "c": rng.choice(["a", "b"], size=600), "y": (x > 0).astype(int)}
    )
    frame.loc[::50, "x"] = np.nan
    return prepare_features(frame, SPEC), frame["y"]


def test_preprocessor_imputes_scales_and_one_hot_encodes(toy: tuple[pd.DataFrame, pd.Series]) -> None:
    features, _ = toy
    pre = build_preprocessor(SPEC, FeaturesConfig(clip_quantiles=(0.01, 0.99)))
    out = pre.fit_transform(features)
    assert list(pre.get_feature_names_out()) == ["x", "noise", "c_a", "c_b"]
    assert not np.isnan(out).any()
    assert abs(out[:, 1].mean()) < 1e-9 and out[:, 1].std() == pytest.approx(1.0)
    unseen = features.head(2).assign(c=["zzz", np.nan])
    assert pre.transform(unseen)[:, 2:].tolist() == [[0.0, 0.0], [0.0, 0.0]]


def fitted(toy: tuple[pd.DataFrame, pd.Series]):  # type: ignore[no-untyped-def]
    from sklearn.pipeline import Pipeline

    features, target = toy
    model = Pipeline([("pre", build_preprocessor(SPEC, FeaturesConfig())), ("m", LogisticRegression())])
    return model.fit(features, target)


def test_gates_pass_and_fail_on_their_thresholds(toy: tuple[pd.DataFrame, pd.Series], tmp_path: Path) -> None:
    features, target = toy
    model = fitted(toy)
    preds = predict(model, features, Task.BINARY)
    metrics = metrics_of(preds, target, Task.BINARY)
    gates = GatesConfig(
        min_metrics=[MetricGate(metric="accuracy", threshold=0.9), MetricGate(metric="accuracy", threshold=1.01)],
        slices=[
            SliceGate(name="c_is_a", column="c", equals="a", metric="f1", threshold=0.8),
            SliceGate(name="tiny", column="x", min=100.0, metric="f1", threshold=0.5),
        ],
        invariance=InvarianceGate(noise_scale=0.001, max_changed_rate=0.05),
    )
    results = {r.name: r for r in run_gates(model, features, target, SPEC, gates, metrics, 0, preds)}
    assert results["min_accuracy"].passed is False  # the second gate of that name overwrote the first
    assert results["c_is_a"].passed and results["c_is_a"].value is not None
    assert not results["tiny"].passed and "fewer than min_rows" in results["tiny"].detail
    assert results["invariance_noise"].passed and results["invariance_noise"].value is not None
    assert not gates_passed(list(results.values()))
    plots = write_plots(preds, target, Task.BINARY, tmp_path)
    assert sorted(p.name for p in plots) == ["confusion_matrix.png", "roc_curve.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in plots)


def test_invariance_gate_catches_a_model_that_flips_on_noise(toy: tuple[pd.DataFrame, pd.Series]) -> None:
    features, target = toy

    class Flaky:
        """Predicts from the 9th decimal of x: any noise changes about half its answers."""

        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return (np.nan_to_num(frame["x"].to_numpy()) * 1e9 % 2 > 1).astype(int)

    preds = predict(Flaky(), features, Task.REGRESSION)
    gate = GatesConfig(invariance=InvarianceGate(noise_scale=0.01, max_changed_rate=0.02))
    (result,) = run_gates(Flaky(), features, target, SPEC, gate, {}, 0, preds)
    assert not result.passed and result.value is not None and result.value > 0.3
