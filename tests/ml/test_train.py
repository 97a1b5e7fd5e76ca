"""`run_training` against a real MLflow server: refusal of bad data, reproducibility, search, gates, S3."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from ml.train import run_training
from ml.training_config import load_config_and_spec
from ml.validate import DataValidationError

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BREAST_CANCER_SPEC = EXAMPLES / "breast_cancer" / "dataset.yaml"


def write_config(tmp_path: Path, **overrides: Any) -> Path:
    """A small training config; each test gets its own model name so tests do not share versions."""
    config: dict[str, Any] = {
        "dataset": str(BREAST_CANCER_SPEC),
        "model_name": f"test-{uuid.uuid4().hex[:8]}",
        "seed": 7,
        "estimator": {"kind": "logistic_regression", "params": {"max_iter": 500}},
        "gates": {"min_metrics": [{"metric": "roc_auc", "threshold": 0.9}]},
    }
    config.update(overrides)
    path = tmp_path / f"train-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_invalid_data_is_never_trained_on_and_nothing_is_registered(mlflow_server: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    spec = yaml.safe_load(BREAST_CANCER_SPEC.read_text())
    spec["columns"]["mean radius"]["max"] = 10  # most tumours are larger: out_of_range
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(spec))
    config, dataset = load_config_and_spec(write_config(tmp_path, dataset=str(tmp_path / "bad.yaml")))
    with pytest.raises(DataValidationError, match="out_of_range") as caught:
        run_training(config, dataset, mlflow_server)
    assert caught.value.report.violations[0].column == "mean radius"
    client = MlflowClient(mlflow_server)
    assert client.get_experiment_by_name(config.experiment_name) is None
    assert client.search_registered_models(f"name = '{config.model_name}'") == []


def test_same_data_config_and_seed_give_the_same_model(mlflow_server: str, tmp_path: Path) -> None:
    import mlflow.sklearn

    path = write_config(tmp_path, estimator={"kind": "random_forest", "params": {"n_estimators": 20}})
    config, spec = load_config_and_spec(path)
    first = run_training(config, spec, mlflow_server)
    second = run_training(config, spec, mlflow_server)
    assert (first.version, second.version) == ("1", "2")
    assert first.metrics == second.metrics and first.data_sha256 == second.data_sha256
    holdout = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=first.run_id, artifact_path="holdout.parquet", tracking_uri=mlflow_server
        )
    ).drop(columns="target")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        one = mlflow.sklearn.load_model(first.model_uri).predict_proba(holdout)
        two = mlflow.sklearn.load_model(second.model_uri).predict_proba(holdout)
    assert (one == two).all()
    reseeded = run_training(config.model_copy(update={"seed": 8}), spec, mlflow_server)
    assert reseeded.metrics != first.metrics or reseeded.params != first.params


def test_search_logs_each_trial_as_a_nested_run(mlflow_server: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    path = write_config(tmp_path, search={"params": {"C": [0.01, 0.1, 1.0, 10.0]}, "trials": 3, "cv": 3})
    config, spec = load_config_and_spec(path)
    result = run_training(config, spec, mlflow_server)
    client = MlflowClient(mlflow_server)
    parent = client.get_run(result.run_id)
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == 3
    scores = {c.data.params["model.C"]: c.data.metrics["cv_roc_auc"] for c in children}
    best_c = max(scores, key=lambda c: scores[c])
    assert parent.data.params["model.C"] == best_c and parent.data.params["search_trials"] == "3"


def test_failed_gate_registers_but_does_not_move_challenger(mlflow_server: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    path = write_config(tmp_path)
    config, spec = load_config_and_spec(path)
    good = run_training(config, spec, mlflow_server)
    document = config.model_dump() | {"base_dir": config.base_dir}
    document["gates"]["min_metrics"] = [{"metric": "roc_auc", "threshold": 1.01}]
    strict = type(config).model_validate(document)
    bad = run_training(strict, spec, mlflow_server)
    assert good.gates_passed and not bad.gates_passed and not bad.challenger
    client = MlflowClient(mlflow_server)
    assert client.get_model_version(config.model_name, bad.version).tags["gates.passed"] == "false"
    assert client.get_model_version_by_alias(config.model_name, "challenger").version == good.version


def test_regression_with_skops_format_and_residual_plot(mlflow_server: str, tmp_path: Path) -> None:
    import mlflow.sklearn
    from mlflow import MlflowClient

    spec = {
        "name": "diabetes",
        "source": {"uri": "sklearn://diabetes"},
        "target": "progression",
        "task": "regression",
        "target_min": 0,
        "target_max": 1000,
        "columns": {
            name: {"type": "float"} for name in ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
        },
    }
    (tmp_path / "diabetes.yaml").write_text(yaml.safe_dump(spec))
    path = write_config(
        tmp_path,
        dataset=str(tmp_path / "diabetes.yaml"),
        estimator={"kind": "ridge", "params": {"alpha": 1.0}},
        gates={"min_metrics": [{"metric": "r2", "threshold": 0.3}], "invariance": {"max_changed_rate": 0.05}},
        model_format="skops",
    )
    config, dataset = load_config_and_spec(path)
    result = run_training(config, dataset, mlflow_server)
    assert set(result.metrics) == {"rmse", "mae", "r2"} and result.gates_passed
    client = MlflowClient(mlflow_server)
    assert {a.path for a in client.list_artifacts(result.run_id, "plots")} == {"plots/residuals.png"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        model = mlflow.sklearn.load_model(result.model_uri)
        info = mlflow.models.get_model_info(result.model_uri)
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    from sklearn.datasets import load_diabetes

    assert model.predict(load_diabetes(as_frame=True).data.head(3)).shape == (3,)


def test_data_from_moto_s3_and_artifacts_to_an_s3_backed_server(
    mlflow_s3_server: tuple[str, str, str], s3_server: str, s3: Any, s3_bucket: str, tmp_path: Path
) -> None:
    from ml.generate import generate

    uri, artifact_bucket, prefix = mlflow_s3_server
    s3.put_object(Bucket=s3_bucket, Key="churn/train.parquet", Body=generate(3000, seed=5).to_parquet(index=False))
    spec = yaml.safe_load((EXAMPLES / "generated" / "dataset.yaml").read_text())
    spec["source"]["uri"] = f"s3://{s3_bucket}/churn/train.parquet"
    (tmp_path / "churn.yaml").write_text(yaml.safe_dump(spec))
    config, dataset = load_config_and_spec(
        write_config(tmp_path, dataset=str(tmp_path / "churn.yaml"), gates={"min_metrics": []})
    )
    result = run_training(config, dataset, uri, s3_endpoint=s3_server)
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=artifact_bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    run_keys = [k for k in keys if result.run_id in k]
    assert any(k.endswith("holdout.parquet") for k in run_keys), keys
    assert any(k.endswith("model_card.md") for k in run_keys), keys
    assert any(k.endswith("/MLmodel") for k in keys), keys
    from mlflow import MlflowClient

    version = MlflowClient(uri, registry_uri=uri).get_model_version(config.model_name, result.version)
    assert version.tags["data.uri"] == spec["source"]["uri"] and version.tags["data.rows"] == "3000"
