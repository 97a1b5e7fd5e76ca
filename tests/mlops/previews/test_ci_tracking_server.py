"""The model side of the comment against a real `mlflow server` over HTTP, as CI reaches it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from mlops.cli import app

pytestmark = pytest.mark.integration

HAND = Path(__file__).parent / "fixtures" / "hand"
NAME = "breast-cancer"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # A fresh SQLite store migrates first: tens of seconds, more on a busy machine.
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"mlflow server exited with {process.returncode}:\n{(root / 'server.log').read_text()[-3000:]}"
                )
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server did not answer /health within 300 s:\n{(root / 'server.log').read_text()[-3000:]}"
                )
            time.sleep(1)
        _register(url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _register(url: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment = client.create_experiment("ci")
    client.create_registered_model(NAME)
    for auc, passed in ((0.97, True), (0.985, True), (0.991, False)):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "test_roc_auc", auc)
        client.set_terminated(run.info.run_id)
        gates = [{"name": "min_roc_auc", "passed": passed, "detail": f"roc_auc {auc}"}]
        client.create_model_version(
            NAME,
            source=f"runs:/{run.info.run_id}/model",
            run_id=run.info.run_id,
            tags={"gates": json.dumps(gates), "gates.passed": str(passed).lower()},
        )


def test_the_cli_compares_the_versions_over_http(server: str, tmp_path: Path) -> None:
    out = tmp_path / "comment.md"
    result = CliRunner().invoke(
        app,
        [
            "ci",
            "preview-comment",
            "--from-json",
            f"dev={HAND / 'dev-digest.json'}",
            "--tracking-uri",
            server,
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.stderr
    body = out.read_text()
    assert f"Tracking server: `{server}`" in body
    assert "| `test_roc_auc` | 0.9850 | 0.9910 | +0.0060 |" in body
    assert "| `min_roc_auc` | ✅ roc_auc 0.985 | ❌ roc_auc 0.991 |" in body
