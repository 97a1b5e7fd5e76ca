"""`mlops monitor` against real services: moto's S3 server for the log and labels, a real MLflow server
for the registered reference, the registered metrics and the monitoring run."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from tests.support.drift_data import CATEGORICAL, NUMERIC, log_frame, make_frame
from tests.support.names import unique_model_name

pytestmark = pytest.mark.integration


def _put_log(s3, bucket: str, frame: pd.DataFrame, fmt: str) -> None:  # type: ignore[no-untyped-def]
    day = frame["_ts"].iloc[0][:10]
    buffer = io.BytesIO()
    if fmt == "parquet":
        frame.to_parquet(buffer, index=False)
    else:
        buffer.write(frame.to_json(orient="records", lines=True).encode())
    s3.put_object(Bucket=bucket, Key=f"predictions/churn/date={day}/12-a.{fmt}", Body=buffer.getvalue())


def _labels(frame: pd.DataFrame, flip: float) -> pd.DataFrame:
    label = frame["_prediction"].to_numpy().copy()
    flipped = np.random.default_rng(0).random(len(label)) < flip
    label[flipped] = 1 - label[flipped]
    return pd.DataFrame({"request_id": frame["_request_id"], "row": 0, "label": label})


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_monitor_reads_log_and_labels_from_s3(
    s3_server: str, s3_bucket: str, tmp_path: Path, reference_profile: dict, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    from tests.support.s3 import s3_client

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    s3 = s3_client(s3_server)
    frame = log_frame(make_frame(2000, seed=31, shift={"age": 0.7}))
    _put_log(s3, s3_bucket, frame, fmt)
    s3.put_object(Bucket=s3_bucket, Key="labels/day1.csv", Body=_labels(frame, 0.05).to_csv(index=False).encode())
    reference = tmp_path / "reference_profile.json"
    reference.write_text(json.dumps(reference_profile))
    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "--model",
            "churn",
            "--log-uri",
            f"s3://{s3_bucket}/predictions",
            "--reference",
            str(reference),
            "--labels",
            f"s3://{s3_bucket}/labels",
            "--out",
            str(tmp_path / "out"),
            "--no-log-run",
            "--json",
        ],
    )
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["rows"] == 2000 and data["drifted_features"] == ["age"]
    assert data["quality"]["labelled_rows"] == 2000
    assert data["quality"]["metrics"]["accuracy"]["live"] == pytest.approx(0.95, abs=0.02)


@pytest.fixture(scope="module")
def registered_reference(mlflow_server: str, reference_profile: dict) -> tuple[str, str]:
    """A registered version whose run carries reference_profile.json and test metrics, aliased champion."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    experiment = client.create_experiment(f"monitor-test-{np.random.default_rng().integers(1 << 30)}")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "test_accuracy", 0.97)
    client.log_metric(run.info.run_id, "test_f1", 0.97)
    client.log_dict(run.info.run_id, reference_profile, "reference_profile.json")
    client.set_terminated(run.info.run_id)
    name = unique_model_name("churn-monitor-test")
    client.create_registered_model(name)
    version = client.create_model_version(
        name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags={"task": "binary"}
    )
    client.set_registered_model_alias(name, "champion", version.version)
    return name, str(version.version)


def test_monitor_against_the_registry_logs_a_monitoring_run(
    mlflow_server: str, registered_reference, tmp_path: Path, reference_frame: pd.DataFrame
) -> None:
    from mlflow.tracking import MlflowClient

    name, version = registered_reference
    frame = log_frame(make_frame(3000, seed=41), model=name)
    root = tmp_path / "log" / name / f"date={frame['_ts'].iloc[0][:10]}"
    root.mkdir(parents=True)
    frame.to_parquet(root / "12-a.parquet", index=False)
    labels = tmp_path / "labels.csv"
    _labels(frame, 0.25).to_csv(labels, index=False)
    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "--model",
            name,
            "--tracking-uri",
            mlflow_server,
            "--log-uri",
            str(tmp_path / "log"),
            "--labels",
            str(labels),
            "--out",
            str(tmp_path / "out"),
            "--json",
        ],
    )
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["model_version"] == version and data["task"] == "binary"
    assert data["quality"]["metrics"]["accuracy"]["registered"] == pytest.approx(0.97)
    assert data["quality"]["metrics"]["accuracy"]["decayed"]
    client = MlflowClient(tracking_uri=mlflow_server)
    run = client.get_run(data["tracking_run_id"])
    assert run.data.tags["model.name"] == name and run.data.tags["monitor.status"] == "quality_decay"
    assert run.data.metrics["rows"] == 3000
    assert run.data.metrics["live.accuracy"] == pytest.approx(data["quality"]["metrics"]["accuracy"]["live"])
    assert {f"psi.{c}" for c in NUMERIC + CATEGORICAL} <= set(run.data.metrics)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"report.html", "result.json"}


def test_unknown_registered_model_names_the_fix(mlflow_server: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["monitor", "--model", "no-such-model", "--tracking-uri", mlflow_server, "--log-uri", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "not found" in result.output and "--reference PATH" in " ".join(result.output.split())


@pytest.fixture
def registered_model(mlflow_server: str, model_name: str, tmp_path: Path) -> SimpleNamespace:
    """The breast-cancer example trained under this test's own model name, with the config that trains it."""
    import yaml

    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    example = Path(__file__).resolve().parents[3] / "examples" / "breast_cancer"
    document = yaml.safe_load((example / "train.yaml").read_text())
    document.update(dataset=str(example / "dataset.yaml"), model_name=model_name)
    train_config = tmp_path / "train.yaml"
    train_config.write_text(yaml.safe_dump(document))
    result = run_training(*load_config_and_spec(train_config), mlflow_server)
    return SimpleNamespace(
        tracking_uri=mlflow_server, name=result.model_name, version=result.version, train_config=train_config
    )


def test_retrain_on_drift_registers_a_challenger_and_never_a_champion(registered_model, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    features = data.data.copy()
    features["mean texture"] = features["mean texture"] + 2 * features["mean texture"].std()
    frame = log_frame(features.assign(_prediction=data.target), model=registered_model.name)
    root = tmp_path / "log" / registered_model.name / f"date={frame['_ts'].iloc[0][:10]}"
    root.mkdir(parents=True)
    frame.to_parquet(root / "12-a.parquet", index=False)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": frame["_request_id"], "label": data.target}).to_csv(labels, index=False)
    client = MlflowClient(tracking_uri=registered_model.tracking_uri)
    before = {int(v.version) for v in client.search_model_versions(f"name='{registered_model.name}'")}
    config = registered_model.train_config
    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "--model",
            registered_model.name,
            "--model-version",
            registered_model.version,
            "--tracking-uri",
            registered_model.tracking_uri,
            "--log-uri",
            str(tmp_path / "log"),
            "--labels",
            str(labels),
            "--out",
            str(tmp_path / "out"),
            "--no-log-run",
            "--retrain",
            "--train-config",
            str(config),
        ],
    )
    assert result.exit_code == 3, result.output
    assert "mean texture" in json.loads((tmp_path / "out" / "result.json").read_text())["drifted_features"]
    after = {int(v.version) for v in client.search_model_versions(f"name='{registered_model.name}'")}
    new = after - before
    assert len(new) == 1, result.output
    version = client.get_model_version(registered_model.name, str(new.pop()))
    assert "challenger" in version.aliases and "champion" not in version.aliases
    assert version.tags["data.rows"] == str(len(frame))
    assert "window" in version.tags["data.uri"]
    with pytest.raises(Exception, match="champion"):
        client.get_model_version_by_alias(registered_model.name, "champion")
