"""Live quality from labels, thresholds from stack config, exit codes and the retrain decision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ml.monitor.judge import MonitorRequest, monitor_batches
from ml.monitor.quality import compare, load_labels
from ml.monitor.thresholds import ExitCode, Thresholds, exit_code, should_retrain
from tests.support.drift_data import log_frame, make_frame


def _labels(frame: pd.DataFrame, flip: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = frame["_prediction"].to_numpy().copy()
    flipped = rng.random(len(label)) < flip
    label[flipped] = 1 - label[flipped]
    return pd.DataFrame({"request_id": frame["_request_id"], "row": frame["_row"], "label": label})


def _run(profile: dict, frame: pd.DataFrame, labels: pa.Table, registered: dict[str, float]) -> object:
    request = MonitorRequest(
        profile=profile, model="churn", labels=labels, registered_metrics=registered, task="binary"
    )
    return monitor_batches(request, [pa.Table.from_pandas(frame, preserve_index=False)])


def test_labels_join_by_request_and_row_and_detect_decay(tmp_path: Path, reference_profile: dict) -> None:
    frame = log_frame(make_frame(2000, seed=5))
    path = tmp_path / "labels.csv"
    _labels(frame, flip=0.30, seed=1).iloc[:1500].to_csv(path, index=False)
    outcome = _run(reference_profile, frame, load_labels(str(path)), {"accuracy": 0.95, "f1": 0.95})
    assert outcome.labelled_rows == 1500
    assert outcome.quality["accuracy"]["live"] == pytest.approx(0.70, abs=0.03)
    assert outcome.quality["accuracy"]["decayed"] and outcome.quality_decay
    assert outcome.exit_code is ExitCode.QUALITY_DECAY
    assert outcome.retrain == (True, "live model quality fell below the registered metrics")


def test_healthy_when_live_metrics_hold(tmp_path: Path, reference_profile: dict) -> None:
    frame = log_frame(make_frame(2000, seed=6))
    path = tmp_path / "labels.parquet"
    _labels(frame, flip=0.02, seed=2).to_parquet(path)
    outcome = _run(reference_profile, frame, load_labels(str(path)), {"accuracy": 0.97, "roc_auc": 0.9})
    assert not outcome.quality_decay
    assert "roc_auc" in outcome.quality
    assert outcome.exit_code is ExitCode.HEALTHY
    assert outcome.to_dict()["status"] == "healthy"


def test_labels_without_required_columns_say_what_is_needed(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["a"], "y": [1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"lack columns \['label', 'request_id'\]"):
        load_labels(str(path))


def test_error_metrics_decay_relative_and_scores_absolute() -> None:
    rows = compare({"rmse": 1.2, "mae": 1.04, "accuracy": 0.90}, {"rmse": 1.0, "mae": 1.0, "accuracy": 0.96}, 0.05)
    assert rows["rmse"]["decayed"] and not rows["mae"]["decayed"] and rows["accuracy"]["decayed"]


def test_thresholds_from_stack_config_and_overrides() -> None:
    config = {
        "psiThreshold": 0.3,
        "ksPValue": 0.001,
        "nullRateIncrease": 0.1,
        "qualityTolerance": 0.02,
        "retrain": {"onDrift": False, "includeReference": True},
    }
    t = Thresholds.from_config(config, psi_threshold=0.25, p_value=None)
    assert (t.psi_threshold, t.p_value, t.null_rate_increase, t.quality_tolerance) == (0.25, 0.001, 0.1, 0.02)
    assert not t.retrain.on_drift and t.retrain.include_reference and t.retrain.on_quality_decay
    assert should_retrain(t, drift=True, quality_decay=False)[0] is False


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"psiTreshold": 0.2}, r"unknown key 'psiTreshold' in mlops:monitoring \(did you mean 'psiThreshold'\?\)"),
        ({"retrain": {"always": True}}, r"unknown key 'always' in mlops:monitoring.retrain; allowed: includeReference"),
        ({"ksPValue": 5}, r"mlops:monitoring.ksPValue must be a number between 0 and 1, got 5"),
        ({"psiThreshold": 0}, r"mlops:monitoring.psiThreshold must be a positive number"),
        ({"retrain": {"onDrift": "yes"}}, r"mlops:monitoring.retrain.onDrift must be true or false, got 'yes'"),
    ],
)
def test_bad_monitoring_config_names_the_key(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Thresholds.from_config(config)
    with pytest.raises(ValueError, match=rf"^stack 'prod': .*{message}"):
        Thresholds.from_config(config, stack="prod")


def test_exit_code_precedence() -> None:
    assert exit_code(drift=True, data_quality=True, quality_decay=True) is ExitCode.QUALITY_DECAY
    assert exit_code(drift=True, data_quality=True, quality_decay=False) is ExitCode.DATA_QUALITY
    assert exit_code(drift=True, data_quality=False, quality_decay=False) is ExitCode.DRIFT
    assert int(exit_code(drift=False, data_quality=False, quality_decay=False)) == 0
    assert len({int(c) for c in ExitCode}) == len(ExitCode)


def test_every_stack_monitoring_section_parses() -> None:
    from mlops.stacks import project, stack_config

    stacks = project().stacks()
    assert stacks, "no stacks/Pulumi.*.yaml found"
    for stack in stacks:
        section = stack_config(stack).get("monitoring")
        if section is not None:
            thresholds = Thresholds.from_config(section)
            assert 0 < thresholds.psi_threshold < 1, stack
