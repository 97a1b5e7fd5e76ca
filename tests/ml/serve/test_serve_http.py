"""The real server process, with a real model from a real MLflow server: endpoints and every error kind."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from ml.mlflow_log import tracking_to
from tests.ml.serve.serve_models import MIXED_MODEL, ServeProcess, mixed_frame

pytestmark = pytest.mark.integration

ROW = {"age": 40.0, "income": 20000.0, "visits": 3, "region": "north", "plan": "pro", "member": True, "score": None}


def post(server: ServeProcess, body: Any, **headers: str) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        f"{server.url}/predict", data=data, headers={"content-type": "application/json", **headers}, timeout=10
    )


def records(n: int, seed: int = 5) -> tuple[list[dict[str, Any]], Any]:
    frame, _ = mixed_frame(n, seed=seed)
    return frame.astype(object).where(frame.notna(), None).to_dict("records"), frame


def test_health_ready_metadata(model_server: ServeProcess, serve_models: dict[str, str]) -> None:
    assert requests.get(f"{model_server.url}/health", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{model_server.url}/ready", timeout=5).status_code == 200
    meta = requests.get(f"{model_server.url}/metadata", timeout=5).json()
    assert (meta["name"], meta["version"], meta["alias"]) == (MIXED_MODEL, serve_models[MIXED_MODEL], "champion")
    assert meta["run_id"] and meta["data_sha256"].startswith("sha-serve-test-mixed-")
    assert {c["name"] for c in meta["input_schema"]} == set(ROW)
    assert meta["fast_path"] is True


def test_predictions_match_the_registered_model(model_server: ServeProcess, mlflow_server: str) -> None:
    import mlflow.sklearn

    rows, frame = records(300)
    response = post(model_server, {"records": rows}, **{"x-request-id": "match-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] == "match-1" and response.headers["x-request-id"] == "match-1"
    with tracking_to(mlflow_server):
        model = mlflow.sklearn.load_model(f"models:/{MIXED_MODEL}@champion")
    assert body["predictions"] == model.predict(frame).tolist()
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(frame), rtol=1e-9)
    assert body["classes"] == [0, 1]


def test_columnar_and_records_agree(model_server: ServeProcess) -> None:
    rows, _ = records(20)
    columns = {k: [r[k] for r in rows] for k in ROW}
    a, b = post(model_server, rows).json(), post(model_server, {"columns": columns}).json()
    assert a["predictions"] == b["predictions"] and a["probabilities"] == b["probabilities"]


@pytest.mark.parametrize(
    ("body", "status", "kind", "column"),
    [
        ([{k: v for k, v in ROW.items() if k != "age"}], 422, "missing_column", "age"),
        ([{**ROW, "colour": "red"}], 422, "extra_column", "colour"),
        ([{**ROW, "visits": "three"}], 422, "wrong_type", "visits"),
        ([{**ROW, "region": None}], 422, "null_value", "region"),
        ([], 422, "empty_batch", None),
        ([ROW] * 501, 413, "batch_too_large", None),
        (b'{"records": [', 400, "malformed_json", None),
        (b"", 400, "malformed_json", None),
        ({"rows": [ROW]}, 400, "bad_request_shape", None),
    ],
)
def test_every_error_kind_is_a_4xx_naming_the_problem(
    model_server: ServeProcess, body: Any, status: int, kind: str, column: str | None
) -> None:
    response = post(model_server, body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] == kind and error["message"]
    if column:
        assert error["errors"][0]["column"] == column and column in error["message"]


def test_oversize_body_is_413(model_server: ServeProcess) -> None:
    response = post(model_server, b"[" + b" " * 300_000 + b"]")
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"


def test_wrong_media_type_method_and_path(model_server: ServeProcess) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = requests.post(f"{model_server.url}/predict", data="a=1", headers=form, timeout=5)
    assert response.status_code == 415 and "application/json" in response.json()["message"]
    assert requests.get(f"{model_server.url}/predict", timeout=5).status_code == 405
    assert requests.get(f"{model_server.url}/nope", timeout=5).json()["error"] == "not_found"


def test_a_post_without_a_content_type_is_refused(model_server: ServeProcess) -> None:
    """A browser can post a body without a type cross-site and without a preflight: it must not be scored
    (nor land in the prediction log). requests sends no Content-Type for a bytes body."""
    body = b'{"records": []}'
    for path in ("/predict", "/invocations"):
        response = requests.post(f"{model_server.url}{path}", data=body, timeout=5)
        assert response.status_code == 415, (path, response.text)
        assert response.json()["error"] == "unsupported_media_type" and "none" in response.json()["message"]


def test_openapi_describes_the_signature(model_server: ServeProcess) -> None:
    doc = requests.get(f"{model_server.url}/openapi.json", timeout=5).json()
    record = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    assert record["items"]["properties"]["visits"] == {"type": "integer"}
    assert "score" not in record["items"]["required"] and "age" in record["items"]["required"]


def test_metrics_count_requests_errors_rows_and_version(model_server: ServeProcess) -> None:
    post(model_server, [ROW, ROW])
    post(model_server, [{**ROW, "age": "x"}])
    text = requests.get(f"{model_server.url}/metrics", timeout=5).text
    version = requests.get(f"{model_server.url}/metadata", timeout=5).json()["version"]
    assert f'mlops_model_info{{alias="champion",model_name="{MIXED_MODEL}",model_version="{version}"}} 1.0' in text
    assert _sample(text, "mlops_rows_predicted_total", model_version=version) >= 2
    assert _sample(text, "mlops_request_errors_total", kind="wrong_type") >= 1
    assert _sample(text, "mlops_requests_total", endpoint="/predict", status="200") >= 1
    assert _sample(text, "mlops_request_duration_seconds_count", endpoint="/predict") >= 2


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_prediction_log_holds_what_was_served(model_server: ServeProcess, prediction_log_dir: Path) -> None:
    rows, _ = records(3, seed=9)
    served = post(model_server, rows, **{"x-request-id": "logged-req-1"}).json()
    deadline = time.monotonic() + 15
    logged: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(logged) < 3:
        time.sleep(0.3)
        logged = [
            rec
            for path in prediction_log_dir.rglob("*.jsonl")
            for rec in map(json.loads, path.read_text().splitlines())
            if rec["_request_id"] == "logged-req-1"
        ]
    assert [r["_row"] for r in sorted(logged, key=lambda r: r["_row"])] == [0, 1, 2]
    for rec in logged:
        i = rec["_row"]
        assert rec["_model_name"] == MIXED_MODEL and rec["_model_version"] == served["model_version"]
        assert rec["_prediction"] == served["predictions"][i]
        assert rec["_proba"] == pytest.approx(served["probabilities"][i][1])
        assert rec["region"] == rows[i]["region"] and rec["age"] == pytest.approx(rows[i]["age"])
        assert rec["_ts"].endswith("+00:00")
    assert next(prediction_log_dir.rglob("*.jsonl")).parent.name.startswith("date=")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"records": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"records": [' + b"{" * 600 + b"}" * 600 + b"]}",
        b'{"dataframe_split": {"columns": ["a"], "data": ' + b"[" * 1000 + b"]" * 1000 + b"}}",
    ],
    ids=["array", "records", "objects", "split"],
)
def test_deeply_nested_bodies_get_a_4xx_json_answer(model_server: ServeProcess, body: bytes) -> None:
    for path in ("/predict", "/invocations"):
        response = requests.post(
            f"{model_server.url}{path}", data=body, headers={"content-type": "application/json"}, timeout=10
        )
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:300])
        assert response.json()["error"], response.text[:300]
    assert requests.get(f"{model_server.url}/health", timeout=5).status_code == 200


def test_a_huge_batch_of_empty_records_is_refused_quickly(model_server: ServeProcess) -> None:
    """5,000,000 empty records (15 MB) are refused from their count, before any column is built."""
    body = b'{"records": [' + b"{}," * 4_999_999 + b"{}]}"
    started = time.perf_counter()
    response = requests.post(
        f"{model_server.url}/predict", data=body, headers={"content-type": "application/json"}, timeout=30
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"] in ("batch_too_large", "body_too_large")
    print(f"15 MB of empty records answered {response.status_code} in {elapsed * 1000:.0f} ms")
