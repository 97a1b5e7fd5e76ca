"""Start-up, restart without the tracking server, graceful shutdown, several workers and the S3 log sink."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from ml.mlflow_log import tracking_to
from tests.ml.serve.serve_models import FOREST_MODEL, MIXED_MODEL, ServeProcess, read_s3_jsonl
from tests.support.names import unique_model_name
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

ROW = {"age": 40.0, "income": 20000.0, "visits": 3, "region": "north", "plan": "pro", "member": True, "score": None}


def dead_tracking_uri() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_restart_without_tracking_server_serves_the_cached_alias(
    tmp_path: Path, model_server: ServeProcess, model_cache: Path
) -> None:
    version = requests.get(f"{model_server.url}/metadata", timeout=5).json()["version"]
    server = ServeProcess(
        tmp_path,
        ["--model-uri", f"models:/{MIXED_MODEL}@champion", "--tracking-uri", dead_tracking_uri()],
        env={"MLOPS_MODEL_CACHE": str(model_cache), "MLOPS_PREDICTION_LOG": ""},
    )
    try:
        server.wait_ready()
        response = requests.post(f"{server.url}/predict", json=[ROW], timeout=5)
        assert response.status_code == 200 and response.json()["model_version"] == version
        assert "unreachable" in server.log() and "serving cached version" in server.log()
    finally:
        server.stop()


def test_pinned_version_in_cache_needs_no_tracking_server(
    tmp_path: Path, model_server: ServeProcess, model_cache: Path, serve_models: dict[str, str]
) -> None:
    version = serve_models[MIXED_MODEL]
    server = ServeProcess(
        tmp_path,
        ["--model-uri", f"models:/{MIXED_MODEL}/{version}", "--model-cache", str(model_cache)],
        env={"MLFLOW_TRACKING_URI": dead_tracking_uri(), "MLOPS_PREDICTION_LOG": ""},
    )
    try:
        server.wait_ready()
        assert requests.get(f"{server.url}/metadata", timeout=5).json()["alias"] is None
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("uri", "tracking", "message"),
    [
        ("models:/never-registered@champion", None, "does not exist"),
        (f"models:/{MIXED_MODEL}@never-cached", "dead", "check that the tracking server is up"),
    ],
)
def test_unloadable_model_exits_with_a_clear_message(
    tmp_path: Path, mlflow_server: str, serve_models: dict[str, str], uri: str, tracking: str | None, message: str
) -> None:
    mlops = Path(sys.executable).with_name("mlops")
    tracking_uri = dead_tracking_uri() if tracking == "dead" else mlflow_server
    result = subprocess.run(
        [str(mlops), "serve", "--model-uri", uri, "--tracking-uri", tracking_uri, "--model-cache", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_sigterm_finishes_the_request_in_flight(
    tmp_path: Path, mlflow_server: str, model_cache: Path, serve_models: dict[str, str]
) -> None:
    server = ServeProcess(
        tmp_path,
        ["--model-uri", f"models:/{MIXED_MODEL}@champion", "--tracking-uri", mlflow_server],
        env={"MLOPS_MODEL_CACHE": str(model_cache), "MLOPS_PREDICTION_LOG": ""},
    ).wait_ready()
    body = json.dumps([ROW]).encode()
    head = (
        f"POST /predict HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        # Half a body: the request is in flight when the signal arrives.
        sock.sendall(head + body[:10])
        time.sleep(0.3)
        server.process.send_signal(15)
        time.sleep(0.5)
        assert server.process.poll() is None, "server exited with a request in flight"
        sock.sendall(body[10:])
        # Headers and body may arrive in separate segments; the server closes the connection after both.
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        reply = b"".join(chunks).decode()
    assert reply.startswith("HTTP/1.1 200"), reply
    assert '"predictions"' in reply
    assert server.process.wait(timeout=30) == 0


def test_two_workers_share_the_port_and_the_metrics(
    tmp_path: Path, mlflow_server: str, model_cache: Path, serve_models: dict[str, str]
) -> None:
    server = ServeProcess(
        tmp_path,
        ["--model-uri", f"models:/{FOREST_MODEL}@champion", "--workers", "2", "--tracking-uri", mlflow_server],
        env={"MLOPS_MODEL_CACHE": str(model_cache), "MLOPS_PREDICTION_LOG": ""},
    )
    try:
        server.wait_ready()
        # Both workers load in the background, and a burst of ready answers can all come from one of them:
        # wait until each has logged its loaded model.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.log().count('"message":"loaded ') < 2:
            time.sleep(0.5)
        for _ in range(40):
            assert requests.post(f"{server.url}/predict", json=[ROW, ROW], timeout=10).status_code == 200
        text = requests.get(f"{server.url}/metrics", timeout=5).text
        rows = sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("mlops_rows_predicted_total")
        )
        assert rows == 80
        pids = {json.loads(line).get("pid") for line in server.log().splitlines() if line.startswith("{")}
        assert len(pids - {None}) >= 3, "expected a supervisor and two worker processes in the logs"
    finally:
        assert server.stop() == 0


def test_prediction_log_to_s3(
    tmp_path: Path, mlflow_server: str, model_cache: Path, serve_models: dict[str, str], s3_server: str, s3_bucket: str
) -> None:
    server = ServeProcess(
        tmp_path,
        ["--model-uri", f"models:/{MIXED_MODEL}@champion", "--tracking-uri", mlflow_server],
        env={
            "MLOPS_MODEL_CACHE": str(model_cache),
            "MLOPS_PREDICTION_LOG": f"s3://{s3_bucket}/predictions",
            "MLOPS_PREDICTION_LOG_FORMAT": "jsonl",
            "AWS_ENDPOINT_URL": s3_server,
        },
    ).wait_ready()
    served = requests.post(f"{server.url}/predict", json=[ROW, ROW], headers={"x-request-id": "s3-req"}, timeout=10)
    assert served.status_code == 200
    assert server.stop() == 0
    keys, records = read_s3_jsonl(s3_server, s3_bucket, "predictions/")
    assert all(k.startswith(f"predictions/{MIXED_MODEL}/date=") for k in keys)
    mine = [r for r in records if r["_request_id"] == "s3-req"]
    assert [r["_row"] for r in mine] == [0, 1]
    assert [r["_prediction"] for r in mine] == served.json()["predictions"]


@pytest.fixture(scope="module")
def registered_model(mlflow_server: str) -> Any:
    """The breast-cancer example trained through ml.train under a model name of its own."""
    from types import SimpleNamespace

    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(
        Path(__file__).resolve().parents[3] / "examples" / "breast_cancer" / "train.yaml"
    )
    named = config.model_copy(update={"model_name": unique_model_name("serve-breast-cancer")})
    result = run_training(named, spec, mlflow_server)
    return SimpleNamespace(
        tracking_uri=mlflow_server, name=result.model_name, version=result.version, run_id=result.run_id
    )


def test_serves_the_breast_cancer_example_on_the_fast_path(tmp_path: Path, registered_model: Any) -> None:
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient

    client = MlflowClient(registered_model.tracking_uri)
    target = client.get_model_version(registered_model.name, registered_model.version).tags["target"]
    with tracking_to(registered_model.tracking_uri):
        holdout = pd.read_parquet(
            mlflow.artifacts.download_artifacts(run_id=registered_model.run_id, artifact_path="holdout.parquet")
        ).drop(columns=[target])
        model = mlflow.sklearn.load_model(f"models:/{registered_model.name}/{registered_model.version}")
    server = ServeProcess(
        tmp_path,
        ["--model-uri", f"models:/{registered_model.name}/{registered_model.version}"],
        env={
            "MLFLOW_TRACKING_URI": registered_model.tracking_uri,
            "MLOPS_MODEL_CACHE": str(tmp_path / "cache"),
            "MLOPS_PREDICTION_LOG": "",
        },
    )
    try:
        server.wait_ready()
        meta = requests.get(f"{server.url}/metadata", timeout=5).json()
        assert meta["fast_path"] is True, server.log()
        body = requests.post(f"{server.url}/predict", json={"records": holdout.to_dict("records")}, timeout=30).json()
        assert body["predictions"] == model.predict(holdout).tolist()
        np.testing.assert_allclose(body["probabilities"], model.predict_proba(holdout), rtol=1e-9)
    finally:
        server.stop()
