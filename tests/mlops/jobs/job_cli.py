"""Helpers of the job tests that run the real `mlops train` against a described environment (`env_cli`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.mlops.jobs.env_cli import ENV_FILE
from tests.support.paths import EXAMPLES, REPO

EXAMPLE = EXAMPLES / "breast_cancer"
SLOW_FIT = {"kind": "random_forest", "params": {"n_estimators": 20000, "max_depth": 2}}
"""An estimator that fits the example for a minute or more on a job's one CPU (the example's own fits in well
under a second): a Ctrl-C sent once the job runs always finds it still training."""


def example_config(tmp_path: Path, model_name: str, **changes: Any) -> Path:
    raw = yaml.safe_load((EXAMPLE / "train.yaml").read_text())
    raw.update(model_name=model_name, dataset=str(EXAMPLE / "dataset.yaml"), **changes)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def env_for(tmp_path: Path, description: dict[str, Any]) -> dict[str, str]:
    described = tmp_path / "environment.json"
    described.write_text(json.dumps(description))
    # `mlops train --env` must go by the stack, not by a tracking URI other suites exported into this process.
    inherited = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    return {**inherited, ENV_FILE: str(described), "COLUMNS": "200"}


def mlops_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.mlops.jobs.env_cli", *args]


def run_mlops(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mlops_command(*args), env=env, cwd=REPO, text=True, capture_output=True, timeout=timeout, check=False
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-6000:]}"


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def search_runs(tracking_uri: str, model_name: str) -> tuple[Any, list[Any]]:
    """The registered version's run and the trial runs of its experiment (`trial-N`)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri, tracking_uri)
    versions = client.search_model_versions(f"name = '{model_name}'")
    assert len(versions) == 1, [v.version for v in versions]  # the best trial registered once
    parent = client.get_run(versions[0].run_id)
    runs = client.search_runs([parent.info.experiment_id], max_results=100)
    trials = sorted((r for r in runs if r.info.run_name.startswith("trial-")), key=lambda r: r.info.run_name)
    return parent, trials


def holdout_predictions(tracking_uri: str, name: str, version: str) -> list[float]:
    """The version's positive-class probabilities on its own logged holdout rows."""
    import mlflow
    import pandas as pd

    from ml import mlflow_log

    with mlflow_log.tracking_to(tracking_uri):
        model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
        run_id = mlflow.MlflowClient(tracking_uri, tracking_uri).get_model_version(name, version).run_id
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="holdout.parquet")
    holdout = pd.read_parquet(local)
    return [float(p) for p in model.predict_proba(holdout.drop(columns=["target"]))[:, 1]]


def assert_same_model(job: list[float], in_process: list[float]) -> None:
    """The job's and the in-process model's predictions on the same rows agree to the last bits: the job fits in
    the image's Python and C library, the in-process fit in the operator's, and the two may round a sum or an
    `exp` one ulp apart (2e-16 seen). A different model (another seed, other rows) differs by far more."""
    assert len(job) == len(in_process)
    worst = max(abs(a - b) for a, b in zip(job, in_process, strict=True))
    assert worst <= 1e-12, f"predictions differ by up to {worst:g}"
