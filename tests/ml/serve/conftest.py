"""Fixtures of the model-server tests: models registered on the shared MLflow server and real `mlops serve`
processes on loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ml.serve.serve_models import MIXED_MODEL, ServeProcess, register_test_models


@pytest.fixture(scope="session")
def serve_models(mlflow_server: str) -> dict[str, str]:
    """Name -> version of the test models, registered (alias `champion`) on the shared MLflow server."""
    return register_test_models(mlflow_server)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def prediction_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prediction-log")


@pytest.fixture(scope="session")
def model_server(
    tmp_path_factory: pytest.TempPathFactory,
    mlflow_server: str,
    serve_models: dict[str, str],
    model_cache: Path,
    prediction_log_dir: Path,
) -> Iterator[ServeProcess]:
    """The mixed-type logistic regression behind a real server, logging every prediction to JSONL files."""
    server = ServeProcess(
        tmp_path_factory.mktemp("serve"),
        ["--model-uri", f"models:/{MIXED_MODEL}@champion", "--max-rows", "500", "--max-body-bytes", "200000"],
        env={
            "MLFLOW_TRACKING_URI": mlflow_server,
            "MLOPS_MODEL_CACHE": str(model_cache),
            "MLOPS_PREDICTION_LOG": prediction_log_dir.as_uri(),
        },
    )
    try:
        yield server.wait_ready()
    finally:
        server.stop()
