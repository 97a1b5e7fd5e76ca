"""The Open Inference Protocol v2 on our server, driven by `tritonclient[http]` (binary tensors by default,
JSON tensors on request), against the registered model's own predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import requests

from ml.mlflow_log import tracking_to
from tests.ml.serve.serve_models import MIXED_MODEL, ServeProcess, mixed_frame

pytestmark = pytest.mark.integration

DATATYPE = {"age": "FP64", "income": "FP64", "visits": "INT64", "region": "BYTES", "plan": "BYTES", "member": "BOOL"}


@pytest.fixture(scope="module")
def triton(model_server: ServeProcess) -> Any:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{model_server.port}", connection_timeout=10)
    yield client
    client.close()


def inputs(data: Any, binary: bool) -> list[Any]:
    import tritonclient.http as httpclient

    out = []
    for name, datatype in {**DATATYPE, "score": "FP64"}.items():
        values = data[name].to_numpy()
        if datatype == "BYTES":
            values = values.astype(object)
        elif datatype == "INT64":
            values = values.astype(np.int64)
        tensor = httpclient.InferInput(name, [len(values)], datatype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        out.append(tensor)
    return out


def test_server_and_model_ready_and_described(triton: Any, serve_models: dict[str, str]) -> None:
    version = serve_models[MIXED_MODEL]
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready(MIXED_MODEL) and triton.is_model_ready(MIXED_MODEL, version)
    assert not triton.is_model_ready("no-such-model")
    meta = triton.get_model_metadata(MIXED_MODEL)
    assert meta["versions"] == [version]
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {**DATATYPE, "score": "FP64"}
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]


@pytest.mark.parametrize("binary", [True, False])
def test_infer_matches_the_registered_model(triton: Any, mlflow_server: str, binary: bool) -> None:
    import mlflow.sklearn
    import tritonclient.http as httpclient

    data, _ = mixed_frame(40, seed=21)
    with tracking_to(mlflow_server):
        model = mlflow.sklearn.load_model(f"models:/{MIXED_MODEL}@champion")
    outputs = None
    if not binary:
        outputs = [
            httpclient.InferRequestedOutput("predict", binary_data=False),
            httpclient.InferRequestedOutput("predict_proba", binary_data=False),
        ]
    result = triton.infer(MIXED_MODEL, inputs(data, binary), outputs=outputs, request_id="v2-req-1")
    assert result.as_numpy("predict").tolist() == model.predict(data).tolist()
    if not binary:
        np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(data), rtol=1e-9)
    assert result.get_response()["id"] == "v2-req-1"


def test_v2_errors_and_metrics(triton: Any, model_server: ServeProcess) -> None:
    from tritonclient.utils import InferenceServerException

    data, _ = mixed_frame(3, seed=2)
    bad = inputs(data, True)[:-2]  # no member: a required column is missing
    with pytest.raises(InferenceServerException, match="missing_column"):
        triton.infer(MIXED_MODEL, bad)
    with pytest.raises(InferenceServerException):
        triton.infer("another-model", inputs(data, True))
    lines = requests.get(f"{model_server.url}/metrics", timeout=5).text.splitlines()

    def counted(name: str, *labels: str) -> bool:
        return any(line.startswith(name + "{") and all(label in line for label in labels) for line in lines)

    assert counted("mlops_rows_predicted_total", 'protocol="v2"')
    assert counted("mlops_requests_total", 'endpoint="/v2/models/{name}/infer"', 'protocol="v2"', 'status="422"')
    assert counted("mlops_request_errors_total", 'kind="missing_column"', 'protocol="v2"')
