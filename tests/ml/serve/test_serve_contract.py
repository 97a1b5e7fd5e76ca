"""The data contract end to end: a spec with nullable columns and categorical policies, a dataset with nulls
(generated here), trained through `ml.train`, registered, served; then the server honours the spec."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.ml.serve.serve_models import ServeProcess

pytestmark = pytest.mark.integration

SPEC = """
name: islands
source: {uri: islands.csv}
target: species
task: multiclass
labels: [adelie, chinstrap, gentoo]
columns:
  bill_mm: {type: float, min: 0, max: 100}
  mass_g: {type: float, nullable: true, min: 0, max: 10000}
  island: {type: category, categories: [biscoe, dream, torgersen], unknown: reject}
  sex: {type: category, nullable: true}
"""
CONFIG = """
dataset: dataset.yaml
model_name: {name}
seed: 3
estimator: {{kind: logistic_regression, params: {{max_iter: 500}}}}
gates: {{invariance: null}}
"""
ROW = {"bill_mm": 40.0, "mass_g": 4000.0, "island": "dream", "sex": "female"}


def write_dataset(directory: Path, rows: int = 400, seed: int = 5) -> None:
    """Penguin-like rows: three species, nulls in the nullable columns, categories that carry signal."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    species = rng.choice(["adelie", "chinstrap", "gentoo"], rows)
    offset = pd.Series(species).map({"adelie": 0.0, "chinstrap": 8.0, "gentoo": 4.0}).to_numpy()
    frame = pd.DataFrame(
        {
            "bill_mm": 38 + offset + rng.normal(0, 1.5, rows),
            "mass_g": 3500 + 300 * offset + rng.normal(0, 200, rows),
            "island": np.where(species == "gentoo", "biscoe", rng.choice(["dream", "torgersen"], rows)),
            "sex": rng.choice(["female", "male"], rows),
            "species": species,
        }
    )
    frame.loc[rng.random(rows) < 0.08, "mass_g"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "sex"] = None
    frame.to_csv(directory / "islands.csv", index=False)


@pytest.fixture(scope="module")
def contract_server(
    tmp_path_factory: pytest.TempPathFactory, mlflow_server: str
) -> Iterator[tuple[ServeProcess, Path]]:
    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    workdir = tmp_path_factory.mktemp("contract")
    write_dataset(workdir)
    name = f"contract-{uuid.uuid4().hex[:8]}"
    (workdir / "dataset.yaml").write_text(SPEC)
    (workdir / "train.yaml").write_text(CONFIG.format(name=name))
    config, spec = load_config_and_spec(workdir / "train.yaml")
    result = run_training(config, spec, mlflow_server)
    log_dir = workdir / "prediction-log"
    server = ServeProcess(
        workdir,
        ["--model-uri", f"models:/{name}/{result.version}"],
        env={
            "MLFLOW_TRACKING_URI": mlflow_server,
            "MLOPS_MODEL_CACHE": str(workdir / "cache"),
            "MLOPS_PREDICTION_LOG": log_dir.as_uri(),
        },
    )
    try:
        yield server.wait_ready(), log_dir
    finally:
        server.stop()


def predict(server: ServeProcess, rows: list[dict[str, Any]], request_id: str = "") -> requests.Response:
    headers = {"x-request-id": request_id} if request_id else {}
    return requests.post(f"{server.url}/predict", json=rows, headers=headers, timeout=10)


def test_signature_and_schema_follow_the_spec(contract_server: tuple[ServeProcess, Path]) -> None:
    server, _ = contract_server
    meta = requests.get(f"{server.url}/metadata", timeout=5).json()
    logged = {c["name"]: c.get("required", True) for c in json.loads(meta["signature"]["inputs"])}
    assert logged == {"bill_mm": True, "mass_g": False, "island": True, "sex": False}
    schema = {c["name"]: c for c in meta["input_schema"]}
    assert (
        schema["island"]["categories"] == ["biscoe", "dream", "torgersen"] and schema["island"]["unknown"] == "reject"
    )
    assert schema["sex"]["categories"] == ["female", "male"] and schema["sex"]["unknown"] == "accept"


def test_nullable_columns_take_null_or_nothing_on_every_protocol(contract_server: tuple[ServeProcess, Path]) -> None:
    server, _ = contract_server
    rows = [{**ROW, "sex": None}, {k: v for k, v in ROW.items() if k not in ("mass_g", "sex")}]
    response = predict(server, rows)
    assert response.status_code == 200, response.text
    assert all(p in ("adelie", "chinstrap", "gentoo") for p in response.json()["predictions"])
    mlflow_style = requests.post(f"{server.url}/invocations", json={"dataframe_records": rows}, timeout=10)
    assert mlflow_style.json()["predictions"] == response.json()["predictions"]


@pytest.mark.parametrize(
    ("row", "kind", "column", "value"),
    [
        ({**ROW, "bill_mm": None}, "null_value", "bill_mm", None),
        ({k: v for k, v in ROW.items() if k != "island"}, "missing_column", "island", None),
        ({**ROW, "island": "Atlantis"}, "unknown_category", "island", "Atlantis"),
    ],
)
def test_the_contract_refuses_with_422(
    contract_server: tuple[ServeProcess, Path], row: dict[str, Any], kind: str, column: str, value: str | None
) -> None:
    server, _ = contract_server
    response = predict(server, [ROW, row])
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == kind and error["errors"][0]["column"] == column
    assert value is None or value in error["message"]


def test_accepted_unknown_category_is_counted_and_marked(contract_server: tuple[ServeProcess, Path]) -> None:
    server, log_dir = contract_server
    response = predict(server, [ROW, {**ROW, "sex": "unrecorded"}], request_id="unknown-sex-1")
    assert response.status_code == 200, response.text
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    assert any(line.startswith('mlops_unknown_categories_total{column="sex"') for line in text.splitlines())
    deadline = time.monotonic() + 15
    logged: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(logged) < 2:
        time.sleep(0.3)
        logged = [
            rec
            for path in log_dir.rglob("*.jsonl")
            for rec in map(json.loads, path.read_text().splitlines())
            if rec["_request_id"] == "unknown-sex-1"
        ]
    marks = {rec["_row"]: rec["_unknown_categories"] for rec in logged}
    assert marks == {0: None, 1: ["sex"]}
    assert {rec["_protocol"] for rec in logged} == {"mlops"}
