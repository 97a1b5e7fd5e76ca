"""Real registered models and real `mlops serve` processes for the model-server tests.

Kept apart from conftest.py so the test modules can import the helpers; the MLflow server itself is the
`mlflow_server` fixture of tests/conftest.py.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.names import unique_model_name
from tests.support.ports import free_port

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 90.0

MIXED_MODEL = unique_model_name("serve-test-mixed")
FOREST_MODEL = unique_model_name("serve-test-forest")
REGRESSOR_MODEL = unique_model_name("serve-test-regressor")


class ServeProcess:
    """One `mlops serve` child process; `stop()` sends SIGTERM like a container runtime does."""

    def __init__(self, workdir: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        mlops = Path(sys.executable).with_name("mlops")
        command = [str(mlops), "serve", "--host", "127.0.0.1", "--port", str(self.port), *args]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> ServeProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlops serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlops serve not ready after {timeout_s:.0f} s:\n{self.log()}")

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return int(self.process.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def read_s3_jsonl(endpoint: str, bucket: str, prefix: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Keys under `prefix` and the JSON lines they hold (moto's fake credentials come from the env)."""
    import json

    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    records = [
        json.loads(line)
        for key in keys
        for line in client.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    return keys, records


def mixed_frame(n: int, seed: int = 0) -> Any:
    """Numeric, integer, categorical and boolean columns, with nulls in one optional numeric column."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(45, 12, n).round(1),
            "income": rng.lognormal(10, 0.5, n),
            "visits": rng.integers(0, 20, n).astype("int64"),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "member": rng.random(n) > 0.5,
            "score": rng.normal(0, 1, n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "score"] = np.nan
    logit = 0.04 * (frame["age"] - 45) + 0.1 * frame["visits"] - 1 + (frame["region"] == "north") * 1.5
    target = (logit + rng.normal(0, 1, n) > 0).astype(int)
    return frame, target


def mixed_pipeline(estimator: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    pre = ColumnTransformer(
        [
            ("num", numeric, ["age", "income", "visits", "score"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["region", "plan"]),
            ("flag", "passthrough", ["member"]),
        ]
    )
    return Pipeline([("pre", pre), ("model", estimator)])


def register_sklearn(tracking_uri: str, name: str, model: Any, frame: Any, alias: str = "champion") -> str:
    """Log, register and alias a fitted model with a signature and an input example; return the version."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    from ml.registry import tag_artifact_sha256

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("serve-tests")
    example = frame.head(3)
    outputs = model.predict(example)
    signature = infer_signature(frame, outputs)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=["scikit-learn", "pandas"],
            skops_trusted_types=["numpy.dtype", "sklearn.tree._tree.Tree"],
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    client = MlflowClient(tracking_uri)
    # Registered by MLflow directly, so the artifact hash every load checks is recorded the way ml.registry does.
    tag_artifact_sha256(client, name, version)
    client.set_model_version_tag(name, version, "data.sha256", f"sha-{name}-{run.info.run_id[:8]}")
    client.set_registered_model_alias(name, alias, version)
    log.info("registered %s version %s", name, version)
    return version


def register_test_models(tracking_uri: str) -> dict[str, str]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression

    frame, target = mixed_frame(600)
    lr = mixed_pipeline(LogisticRegression(max_iter=500)).fit(frame, target)
    rf = mixed_pipeline(RandomForestClassifier(n_estimators=100, random_state=0)).fit(frame, target)
    reg = mixed_pipeline(RandomForestRegressor(n_estimators=10, random_state=0)).fit(frame, frame["income"])
    return {
        MIXED_MODEL: register_sklearn(tracking_uri, MIXED_MODEL, lr, frame),
        FOREST_MODEL: register_sklearn(tracking_uri, FOREST_MODEL, rf, frame),
        REGRESSOR_MODEL: register_sklearn(tracking_uri, REGRESSOR_MODEL, reg, frame),
    }
