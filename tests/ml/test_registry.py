"""What `run_training` leaves in a real MLflow server: the registered-model contract of docs/architecture.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.registry import list_versions, model_card, show_version
from tests.support.names import unique_model_name

CONTRACT_TAGS = (
    "data.uri",
    "data.sha256",
    "data.rows",
    "data.schema",
    "git.commit",
    "git.dirty",
    "seed",
    "task",
    "target",
    "gates",
    "gates.passed",
)


@pytest.fixture(scope="module")
def registered_model(mlflow_server):  # type: ignore[no-untyped-def]
    """The example under a model name of its own: other suites retrain `breast-cancer` on the shared server
    and move its `challenger`, while these tests check exactly what one training run leaves."""
    from types import SimpleNamespace

    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(
        Path(__file__).resolve().parents[2] / "examples" / "breast_cancer" / "train.yaml"
    )
    named = config.model_copy(update={"model_name": unique_model_name("registry-contract")})
    result = run_training(named, spec, mlflow_server)
    return SimpleNamespace(
        tracking_uri=mlflow_server, name=result.model_name, version=result.version, run_id=result.run_id, result=result
    )


@pytest.mark.integration
def test_version_has_contract_tags_and_challenger_alias(registered_model) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    client = MlflowClient(registered_model.tracking_uri, registered_model.tracking_uri)
    mv = client.get_model_version(registered_model.name, registered_model.version)
    assert set(CONTRACT_TAGS) <= set(mv.tags), sorted(set(CONTRACT_TAGS) - set(mv.tags))
    assert mv.tags["data.uri"] == "sklearn://breast_cancer"
    assert mv.tags["data.rows"] == "569"
    assert len(mv.tags["data.sha256"]) == 64
    assert mv.tags["task"] == "binary" and mv.tags["target"] == "target" and mv.tags["seed"] == "42"
    assert mv.tags["gates.passed"] == "true"
    schema = json.loads(mv.tags["data.schema"])
    assert schema["mean radius"]["type"] == "float" and len(schema) == 30
    gates = json.loads(mv.tags["gates"])
    assert {g["name"] for g in gates} == {"min_roc_auc", "min_f1", "large_tumours_accuracy", "invariance_noise"}
    assert mv.run_id == registered_model.run_id
    by_alias = client.get_model_version_by_alias(registered_model.name, "challenger")
    assert by_alias.version == registered_model.version


@pytest.mark.integration
def test_run_has_params_metrics_and_artifacts(registered_model) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    client = MlflowClient(registered_model.tracking_uri, registered_model.tracking_uri)
    run = client.get_run(registered_model.run_id)
    metrics = run.data.metrics
    for name in ("test_accuracy", "test_precision", "test_recall", "test_f1", "test_roc_auc"):
        assert 0.9 <= metrics[name] <= 1.0, (name, metrics[name])
    params = run.data.params
    assert params["estimator"] == "logistic_regression"
    assert params["seed"] == "42" and params["model.C"] == "1.0"
    assert params["pkg.scikit-learn"] == "1.9.1" and params["pkg.mlflow"] == "3.17.2"
    artifacts = {a.path for a in client.list_artifacts(registered_model.run_id)}
    assert {"model_card.md", "holdout.parquet", "reference_profile.json", "dataset_spec.yaml", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(registered_model.run_id, "plots")}
    assert plots == {"plots/confusion_matrix.png", "plots/roc_curve.png"}
    inputs = run.inputs.dataset_inputs
    assert inputs and inputs[0].dataset.digest == registered_model.result.data_sha256[:36]


@pytest.mark.integration
def test_holdout_profile_and_card_are_usable(registered_model) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    import pandas as pd

    def fetch(path: str) -> Path:
        return Path(
            mlflow.artifacts.download_artifacts(
                run_id=registered_model.run_id, artifact_path=path, tracking_uri=registered_model.tracking_uri
            )
        )

    holdout = pd.read_parquet(fetch("holdout.parquet"))
    assert len(holdout) == 114 and "target" in holdout.columns and holdout.shape[1] == 31
    assert set(holdout["target"]) == {0, 1}
    profile = json.loads(fetch("reference_profile.json").read_text())
    assert "mean radius" in json.dumps(profile), "the reference profile does not describe the features"
    assert len(fetch("reference_profile.json").read_bytes()) < 500_000
    spec_text = fetch("dataset_spec.yaml").read_text()
    assert "sklearn://breast_cancer" in spec_text
    card = fetch("model_card.md").read_text()
    assert f"# {registered_model.name} v{registered_model.version}" in card
    assert registered_model.result.data_sha256 in card


@pytest.mark.integration
def test_model_loads_and_predicts_on_signature_columns(registered_model, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    import mlflow.sklearn
    from sklearn.datasets import load_breast_cancer

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model.tracking_uri)
    uri = f"models:/{registered_model.name}/{registered_model.version}"
    model = mlflow.sklearn.load_model(uri)
    info = mlflow.models.get_model_info(uri)
    columns = [c["name"] for c in info.signature.inputs.to_dict()]
    frame = load_breast_cancer(as_frame=True).frame
    proba = model.predict_proba(frame[columns].head(20))
    assert proba.shape == (20, 2)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert list(model.predict(frame[columns].head(20))) == list((proba[:, 1] >= 0.5).astype(int))
    requirements = mlflow.pyfunc.get_model_dependencies(uri)
    text = Path(requirements).read_text()
    assert "scikit-learn==1.9.1" in text and "pandas==" in text and "mlflow==3.17.2" in text


@pytest.mark.integration
def test_list_and_show_read_back_the_version(registered_model) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    client = MlflowClient(registered_model.tracking_uri, registered_model.tracking_uri)
    listed = list_versions(client, registered_model.name)
    mine = [v for v in listed if v.version == registered_model.version]
    assert mine and "challenger" in mine[0].aliases
    shown = show_version(client, registered_model.name, "challenger")
    assert shown.version == registered_model.version
    assert shown.metrics["test_roc_auc"] > 0.95


def test_model_card_marks_failed_gates() -> None:
    card = model_card(
        name="m",
        version="3",
        run_id="r",
        task="binary",
        estimator="logistic_regression",
        params={"C": 1.0},
        metrics={"accuracy": 0.5},
        gates=[{"name": "min_f1", "passed": False, "value": 0.1, "threshold": 0.9, "detail": "f1=0.1"}],
        data={"uri": "file:///d.csv", "rows": "10", "sha256": "ab"},
        git={"commit": "c", "dirty": "false"},
        challenger=False,
    )
    assert "| min_f1 | **no** |" in card
    assert "a gate failed" in card
