"""Shared fixtures of the ml tests: real services started and stopped by the tests themselves.

- ``mlflow_server``: a real ``mlflow server`` process on a free loopback port, SQLite backend and a local
  artifacts destination (proxied artifacts, like the platform's tracking server). Yields its URI.
- ``s3_server``: moto's S3 server in a thread on 127.0.0.1. Yields its endpoint URL; fake credentials
  are put in the environment for the session so boto3 (ours and MLflow's) can sign requests.
- ``s3``: a boto3 S3 client for that server (the helper ``s3_client(endpoint)`` makes one for any).
- ``s3_bucket``: a fresh, empty bucket on that server. Yields its name.
- ``mlflow_s3_server``: a second ``mlflow server`` whose artifacts destination is a moto bucket.
  Yields ``(uri, bucket, prefix)``.
- ``registered_model``: the breast-cancer example (logistic regression, a second or two) trained and
  registered on ``mlflow_server`` through ``ml.train.run_training``. Yields
  ``RegisteredModel(tracking_uri, name, version, run_id, result)``; the version has every tag and
  artifact of the contract and the ``challenger`` alias.

All servers are session-scoped: MLflow takes 20-40 s to answer its first ``/health`` on these machines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ml.tracking import TRACKING_SERVER_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
MLFLOW_STARTUP_TIMEOUT_S = 180.0
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MlflowServerProcess:
    """One ``mlflow server`` child process, in its own process group so its workers stop with it."""

    def __init__(self, workdir: Path, artifacts_destination: str, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "mlflow-server.log"
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination",
            artifacts_destination,
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **TRACKING_SERVER_ENV, **(env or {})},
                start_new_session=True,
            )

    def wait_healthy(self, timeout_s: float = MLFLOW_STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy after {timeout_s:.0f} s:\n{self._log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            # Its job runner and consumer can take 15+ s to drain; a test server's SQLite needs no grace.
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def _log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a real MLflow tracking server (SQLite backend, proxied local artifacts)."""
    workdir = tmp_path_factory.mktemp("mlflow-server")
    server = MlflowServerProcess(workdir, str(workdir / "artifacts"))
    try:
        server.wait_healthy()
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def other_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second, independent tracking server: another environment's registry (promotion tests)."""
    workdir = tmp_path_factory.mktemp("mlflow-other-server")
    server = MlflowServerProcess(workdir, str(workdir / "artifacts"))
    try:
        server.wait_healthy()
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def aws_test_env() -> Iterator[dict[str, str]]:
    """Fake AWS credentials for the session; moto accepts any, boto3 refuses to sign without some."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in FAKE_AWS_ENV.items():
            patch.setenv(key, value)
        yield dict(FAKE_AWS_ENV)


@pytest.fixture(scope="session")
def s3_server(aws_test_env: dict[str, str]) -> Iterator[str]:
    """Endpoint URL of moto's S3 server on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for the moto endpoint, with the fake credentials spelled out."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_AWS_ENV["AWS_DEFAULT_REGION"],
    )


@pytest.fixture(scope="session")
def s3(s3_server: str) -> Any:
    """A boto3 S3 client for the moto server (``s3_client(endpoint)`` builds one for any endpoint)."""
    return s3_client(s3_server)


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A new empty bucket on the moto server (function scope: tests do not see each other's objects)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def mlflow_s3_server(
    tmp_path_factory: pytest.TempPathFactory, s3_server: str, aws_test_env: dict[str, str]
) -> Iterator[tuple[str, str, str]]:
    """A second MLflow server whose proxied artifacts land in a moto bucket: ``(uri, bucket, prefix)``."""
    bucket, prefix = f"mlflow-{uuid.uuid4().hex[:8]}", "artifacts"
    s3_client(s3_server).create_bucket(Bucket=bucket)
    workdir = tmp_path_factory.mktemp("mlflow-s3-server")
    server = MlflowServerProcess(
        workdir,
        f"s3://{bucket}/{prefix}",
        env={**aws_test_env, "MLFLOW_S3_ENDPOINT_URL": s3_server},
    )
    try:
        server.wait_healthy()
        yield server.uri, bucket, prefix
    finally:
        server.stop()


@dataclass(frozen=True)
class RegisteredModel:
    tracking_uri: str
    name: str
    version: str
    run_id: str
    result: Any  # ml.train.TrainingResult; Any keeps this module importable without the ml imports


@pytest.fixture(scope="session")
def registered_model(mlflow_server: str) -> RegisteredModel:
    """The breast-cancer example, trained and registered once per session on ``mlflow_server``."""
    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(EXAMPLES / "breast_cancer" / "train.yaml")
    result = run_training(config, spec, mlflow_server)
    return RegisteredModel(mlflow_server, result.model_name, result.version, result.run_id, result)
