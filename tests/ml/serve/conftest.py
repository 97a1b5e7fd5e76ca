"""Fixtures of the model-server tests: models registered on the shared MLflow server and real `mlops serve`
processes on loopback ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from serve_models import MIXED_MODEL, free_port, register_test_models

READY_TIMEOUT_S = 90.0


class ServeProcess:
    """One `mlops serve` child process; `stop()` sends SIGTERM like a container runtime does."""

    def __init__(self, workdir: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        mlops = Path(sys.executable).with_name("mlops")
        command = [str(mlops), "serve", "--host", "127.0.0.1", "--port", str(self.port), *args]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> ServeProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlops serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlops serve not ready after {timeout_s:.0f} s:\n{self.log()}")

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return int(self.process.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


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
