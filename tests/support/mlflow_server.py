"""The one MLflow server launcher of the test suites: a real `mlflow server` child process on a free loopback
port, SQLite backend store and proxied artifacts, like the platform's tracking server.

MLflow takes 20-40 s to answer its first `/health` on these machines (a fresh SQLite store migrates first),
which is why the fixtures built on it are session-scoped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ml.mlflow_log import TRACKING_SERVER_ENV
from tests.support.ports import free_port

STARTUP_TIMEOUT_S = 180.0


class MlflowServerProcess:
    """One `mlflow server` child process, in its own process group so its workers stop with it."""

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

    def wait_healthy(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy after {timeout_s:.0f} s:\n{self.log_tail()}")

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

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running_mlflow_server(
    workdir: Path, artifacts_destination: str | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """A healthy server's URI for the duration of the block; artifacts default to `<workdir>/artifacts`."""
    server = MlflowServerProcess(workdir, artifacts_destination or str(workdir / "artifacts"), env)
    try:
        server.wait_healthy()
        yield server.uri
    finally:
        server.stop()
