"""Small registered models, and what someone who can write the artifact store (but not the registry's tags)
can do to them: the tampering the artifact-hash tests and fault cases replay against a real MLflow server."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

FEATURES = ("a", "b", "c")


def small_frame(rows: int = 200, seed: int = 0) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in FEATURES})
    return frame, (frame["a"] + frame["b"] - frame["c"] > 0).astype(int)


def log_small_model(tracking_uri: str, registered_model_name: str | None = None) -> Any:
    """A fitted logistic regression logged as a pickle with signature and input example; its ModelInfo.

    With `registered_model_name`, MLflow registers it itself: a version without our artifact hash tag, as
    versions registered before the tag existed are."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from ml.mlflow_log import tracking_to

    frame, target = small_frame()
    model = LogisticRegression().fit(frame, target)
    with tracking_to(tracking_uri):
        mlflow.set_experiment("artifact-hash-tests")
        with mlflow.start_run():
            return mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(frame, model.predict(frame)),
                input_example=frame.head(3),
                pip_requirements=["scikit-learn"],
                serialization_format="pickle",
                registered_model_name=registered_model_name,
            )


def register_small_model(tracking_uri: str, name: str, alias: str | None = None) -> str:
    """Log a small model and register it through `ml.registry.register_version`, as training does."""
    from mlflow import MlflowClient

    from ml.registry import register_version

    info = log_small_model(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = register_version(client, name, info.model_uri, info.model_id, info.run_id, {"task": "binary"})
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


class _WritesAFile:
    """Unpickling this opens (creates) a file: proof, if the file exists, that a loader ran the pickle."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def code_running_pickle(marker: Path) -> bytes:
    return pickle.dumps(_WritesAFile(marker))


def replace_in_artifact_store(tracking_uri: str, name: str, version: str, filename: str, content: bytes) -> None:
    """Overwrite one file of a registered version's model in the artifact store, through the tracking server's
    artifact proxy (what anyone who can reach an MLflow without authentication can do)."""
    from mlflow import MlflowClient
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from ml.mlflow_log import tracking_to

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    source = client.get_model_version(name, version).source  # models:/m-<id>, the logged model
    location = client.get_logged_model(source.rsplit("/", 1)[-1]).artifact_location
    with tracking_to(tracking_uri), tempfile.TemporaryDirectory(prefix="tamper-") as tmp:
        path = Path(tmp) / filename
        path.write_bytes(content)
        get_artifact_repository(location).log_artifact(str(path))
