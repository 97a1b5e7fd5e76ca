"""The shortcuts the MLflow logging module takes for speed must not change what gets recorded."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import mlflow.pyfunc
import mlflow.utils.environment
import pytest

from ml import mlflow_log


def test_pinned_requirements_are_the_installed_versions() -> None:
    # The premise for skipping MLflow's installed-versus-required check while logging.
    pins = dict(requirement.split("==") for requirement in mlflow_log.model_pip_requirements())
    assert set(pins) == {"mlflow", *mlflow_log.MODEL_REQUIREMENTS}
    for name, version in pins.items():
        assert metadata.version(name) == version


def test_mismatch_check_is_skipped_only_while_logging() -> None:
    name = "warn_dependency_requirement_mismatches"
    before = (getattr(mlflow.utils.environment, name), getattr(mlflow.pyfunc, name))
    with mlflow_log._requirements_pinned_from_this_environment():
        assert getattr(mlflow.utils.environment, name) is not before[0]
        assert getattr(mlflow.pyfunc, name) is not before[1]
        assert getattr(mlflow.utils.environment, name)(["scikit-learn==0.0.1"]) is None
    assert (getattr(mlflow.utils.environment, name), getattr(mlflow.pyfunc, name)) == before


def test_mismatch_check_is_restored_after_an_error() -> None:
    name = "warn_dependency_requirement_mismatches"
    before = getattr(mlflow.utils.environment, name)
    with pytest.raises(RuntimeError), mlflow_log._requirements_pinned_from_this_environment():
        raise RuntimeError("log_model failed")
    assert getattr(mlflow.utils.environment, name) is before


def test_the_tracking_image_runs_mlflow_as_the_local_servers_do() -> None:
    dockerfile = (Path(__file__).resolve().parents[2] / "infra" / "images" / "tracking.Dockerfile").read_text()
    for name, value in mlflow_log.TRACKING_SERVER_ENV.items():
        assert f"ENV {name}={value}" in dockerfile
