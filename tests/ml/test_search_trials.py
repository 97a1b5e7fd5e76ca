"""A search's trials against a real MLflow server: a failing trial is recorded and the others go on; the
trials run one by one as jobs would (`--trial`, told their index in JOB_COMPLETION_INDEX) and the final
job's training is the in-process one: the same best trial, the same metrics, the same holdout predictions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml.search import TAG_FAILED_TRIALS, candidates
from ml.train import run_training
from ml.train.command import TrainExit, train_from_config
from ml.train.job import JobContext
from ml.train.trials import TRIAL_INDEX_ENV
from ml.training_config import load_config_and_spec
from tests.support.paths import EXAMPLES

pytestmark = pytest.mark.integration

# C=-1 is refused by scikit-learn when the trial fits: a trial that fails for a reason of its own.
SEARCH = {"params": {"C": [0.1, -1.0, 1.0, 10.0]}, "trials": 4, "cv": 3, "parallelism": 2}


def _config(tmp_path: Path, model_name: str) -> Path:
    raw: dict[str, Any] = yaml.safe_load((EXAMPLES / "breast_cancer" / "train.yaml").read_text())
    raw.update(dataset=str(EXAMPLES / "breast_cancer" / "dataset.yaml"), model_name=model_name, search=SEARCH)
    path = tmp_path / f"{model_name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _failing_number(path: Path) -> int:
    config, _ = load_config_and_spec(path)
    return next(n for n, params in enumerate(candidates(config), start=1) if params["C"] < 0)


def _holdout_predictions(tracking_uri: str, name: str, version: str) -> list[float]:
    import mlflow
    import pandas as pd

    from ml import mlflow_log

    with mlflow_log.tracking_to(tracking_uri):
        model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
        run_id = mlflow.MlflowClient().get_model_version(name, version).run_id
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="holdout.parquet")
    holdout = pd.read_parquet(local)
    return [float(p) for p in model.predict_proba(holdout.drop(columns=["target"]))[:, 1]]


def test_a_failing_trial_is_recorded_and_the_best_of_the_others_is_trained(mlflow_server: str, tmp_path: Path):
    from mlflow import MlflowClient

    path = _config(tmp_path, f"trials-{uuid.uuid4().hex[:8]}")
    config, spec = load_config_and_spec(path)
    result = run_training(config, spec, mlflow_server)
    client = MlflowClient(mlflow_server)
    parent = client.get_run(result.run_id)
    failing = _failing_number(path)
    failed = json.loads(parent.data.tags[TAG_FAILED_TRIALS])
    assert list(failed) == [str(failing)] and "InvalidParameterError" in failed[str(failing)]
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    statuses = {c.info.run_name: c.info.status for c in children}
    assert statuses.pop(f"trial-{failing}") == "FAILED" and set(statuses.values()) == {"FINISHED"}
    assert float(parent.data.params["model.C"]) > 0


def test_trials_as_jobs_then_the_final_job_train_what_in_process_training_trains(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from mlflow import MlflowClient

    in_process = _config(tmp_path, f"inproc-{uuid.uuid4().hex[:8]}")
    config, spec = load_config_and_spec(in_process)
    reference = run_training(config, spec, mlflow_server)

    as_jobs = _config(tmp_path, f"jobs-{uuid.uuid4().hex[:8]}")
    job = JobContext(tags={"job.name": "train-x-1"}, search_id=f"train-x-{uuid.uuid4().hex[:8]}")
    failing = _failing_number(as_jobs)
    for index in reversed(range(4)):  # any order: the jobs run in parallel
        monkeypatch.setenv(TRIAL_INDEX_ENV, str(index))
        code = train_from_config(as_jobs, mlflow_server, job=job, trial=True)
        assert code == (TrainExit.TRIAL_FAILED if index + 1 == failing else TrainExit.OK)
    monkeypatch.delenv(TRIAL_INDEX_ENV)
    assert train_from_config(as_jobs, mlflow_server, job=job, as_json=True) == TrainExit.OK

    client = MlflowClient(mlflow_server, mlflow_server)
    jobs_config, _ = load_config_and_spec(as_jobs)
    (version,) = client.search_model_versions(f"name = '{jobs_config.model_name}'")  # registered once
    parent = client.get_run(version.run_id)
    assert {f"test_{k}": v for k, v in reference.metrics.items()} == {
        k: v for k, v in parent.data.metrics.items() if k.startswith("test_")
    }
    assert parent.data.params["model.C"] == client.get_run(reference.run_id).data.params["model.C"]
    assert json.loads(parent.data.tags[TAG_FAILED_TRIALS]).keys() == {str(failing)}
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.info.run_name for c in children) == [f"trial-{n}" for n in range(1, 5)]
    assert _holdout_predictions(mlflow_server, jobs_config.model_name, version.version) == _holdout_predictions(
        mlflow_server, config.model_name, reference.version
    )
