"""Fixtures of the fault cases: a model version to promote, and a fake-served target, per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.promotion_target import FakeServing
from tests.support.paths import EXAMPLES

POLICY = {
    "mode": "enabled",
    "thresholds": [{"metric": "roc_auc", "threshold": 0.8, "higherIsBetter": True}],
    "championTolerance": {"roc_auc": 0.02},
    "probeRows": 10,
}


@pytest.fixture
def candidate(mlflow_server: str, model_name: str) -> str:
    """The breast-cancer example trained and registered as v1 of this test's own model (a few seconds)."""
    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(EXAMPLES / "breast_cancer" / "train.yaml")
    result = run_training(config.model_copy(update={"model_name": model_name}), spec, mlflow_server)
    assert result.version == "1"
    return model_name


@pytest.fixture
def serving(mlflow_server: str) -> Iterator[FakeServing]:
    fake = FakeServing(mlflow_server)
    try:
        yield fake
    finally:
        fake.close()
