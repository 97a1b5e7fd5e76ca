"""MLflow's scoring protocol on our server, checked with MLflow's own client and side by side with MLflow's
own scoring app (`mlflow models serve` runs the same `scoring_server.init` app) on the same requests."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from ml.mlflow_log import tracking_to
from tests.ml.serve.serve_models import MIXED_MODEL, ServeProcess, mixed_frame

pytestmark = pytest.mark.integration


def frame(n: int, seed: int = 11) -> Any:
    data, _ = mixed_frame(n, seed=seed)
    return data


@pytest.fixture(scope="module")
def mlflow_app(mlflow_server: str, serve_models: dict[str, str]) -> Any:
    """MLflow's scoring app for the same registered version, in process (what `mlflow models serve` runs)."""
    import mlflow.pyfunc
    from fastapi.testclient import TestClient
    from mlflow.pyfunc import scoring_server

    with tracking_to(mlflow_server):
        model = mlflow.pyfunc.load_model(f"models:/{MIXED_MODEL}/{serve_models[MIXED_MODEL]}")
    return TestClient(scoring_server.init(model))


def bodies(data: Any) -> list[tuple[str, bytes]]:
    import json

    from mlflow.utils.proto_json_utils import dump_input_data

    records = json.loads(data.to_json(orient="records"))
    split = json.loads(data.to_json(orient="split", index=False))
    columns = {k: [r[k] for r in records] for k in records[0]}
    return [
        ("application/json", dump_input_data(data).encode()),
        ("application/json", json.dumps({"dataframe_split": split}).encode()),
        ("application/json", json.dumps({"dataframe_records": records}).encode()),
        ("application/json", json.dumps({"instances": records}).encode()),
        ("application/json", json.dumps({"inputs": columns}).encode()),
        ("application/json", json.dumps({"inputs": records, "params": {"ignored": 1}}).encode()),
        ("text/csv", data.to_csv(index=False).encode()),
    ]


def test_mlflow_client_scores_our_server(model_server: ServeProcess, mlflow_server: str) -> None:
    import mlflow.sklearn
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    client = ScoringServerClient("127.0.0.1", model_server.port)
    client.wait_server_ready(timeout=10)
    data = frame(50)
    result = client.invoke(data)
    with tracking_to(mlflow_server):
        model = mlflow.sklearn.load_model(f"models:/{MIXED_MODEL}@champion")
    assert result.get_predictions(predictions_format="ndarray").tolist() == model.predict(data).tolist()
    assert client.get_version()


def test_every_format_answers_exactly_as_mlflow_does(model_server: ServeProcess, mlflow_app: Any) -> None:
    for content_type, body in bodies(frame(20)):
        ours = requests.post(
            f"{model_server.url}/invocations", data=body, headers={"content-type": content_type}, timeout=10
        )
        theirs = mlflow_app.post("/invocations", content=body, headers={"content-type": content_type})
        assert (ours.status_code, theirs.status_code) == (200, 200), (body[:80], ours.text, theirs.text)
        assert ours.json() == theirs.json(), body[:80]


def test_ping_version_and_errors_like_mlflow(model_server: ServeProcess, mlflow_app: Any) -> None:
    ours = requests.get(f"{model_server.url}/ping", timeout=5)
    theirs = mlflow_app.get("/ping")
    assert (ours.status_code, ours.text) == (theirs.status_code, theirs.text) == (200, "\n")
    assert requests.get(f"{model_server.url}/health", timeout=5).status_code == 200
    bad = {"dataframe_records": [{}], "instances": []}
    ours = requests.post(f"{model_server.url}/invocations", json=bad, timeout=5)
    theirs = mlflow_app.post("/invocations", json=bad)
    assert ours.status_code == theirs.status_code == 400
    assert ours.json()["error_code"] == theirs.json()["error_code"] == "BAD_REQUEST"
    wrong = requests.post(f"{model_server.url}/invocations", data=b"x", headers={"content-type": "text/xml"})
    assert wrong.status_code == 415


def test_invocations_are_counted_and_logged_under_their_protocol(model_server: ServeProcess) -> None:
    body = {"dataframe_records": [{**r, "score": None} for r in frame(3).to_dict("records")]}
    assert requests.post(f"{model_server.url}/invocations", json=body, timeout=5).status_code == 200
    text = requests.get(f"{model_server.url}/metrics", timeout=5).text
    assert any(
        line.startswith("mlops_rows_predicted_total{") and 'protocol="mlflow"' in line for line in text.splitlines()
    )
    assert 'endpoint="/invocations"' in text
