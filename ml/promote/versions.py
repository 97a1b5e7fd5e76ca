"""Model versions in one environment's registry: look-up, artifacts, loading and scoring on held-out rows."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import CHALLENGER, TAG_GATES, ModelRef
from ml.artifact_hash import recorded_sha256, verify_artifacts
from ml.mlflow_log import tracking_to


class VersionNotFound(LookupError):
    """The requested model version or alias does not exist in that registry."""


@dataclass(frozen=True)
class ModelVersionRef:
    """One registered version, with what promotion needs to know about it."""

    tracking_uri: str
    name: str
    version: str
    run_id: str
    tags: Mapping[str, str]
    metrics: Mapping[str, float]
    params: Mapping[str, str]

    @property
    def uri(self) -> str:
        return ModelRef.pinned(self.name, self.version).uri

    def metric(self, name: str) -> float | None:
        """A registered evaluation metric, e.g. `f1` reads the run's `test_f1`."""
        return self.metrics.get(f"test_{name}", self.metrics.get(name))

    def gates(self) -> list[dict[str, Any]]:
        """The training gates' results recorded on the version (`[{name, passed, detail, ...}]`)."""
        raw = self.tags.get(TAG_GATES) or ""
        try:
            parsed = json.loads(raw or "[]")
        except json.JSONDecodeError:
            return [{"name": TAG_GATES, "passed": False, "detail": f"unreadable gates tag: {raw[:200]}"}]
        return [g for g in parsed if isinstance(g, dict)] if isinstance(parsed, list) else []

    def download(self, artifact_path: str, dst: Path) -> Path:
        """A run artifact of this version (e.g. `holdout.parquet`), downloaded into `dst`."""
        import mlflow

        with tracking_to(self.tracking_uri):
            local = mlflow.artifacts.download_artifacts(
                run_id=self.run_id, artifact_path=artifact_path, dst_path=str(dst), tracking_uri=self.tracking_uri
            )
        return Path(local)

    def download_model(self, dst: Path) -> Path:
        """The MLflow model directory (MLmodel, pickle, requirements) of this version, once its files match
        the artifact hash recorded at registration (else `ArtifactIntegrityError`, before anything loads them)."""
        import mlflow

        with tracking_to(self.tracking_uri):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=self.uri,
                dst_path=str(dst),
                tracking_uri=self.tracking_uri,
                registry_uri=self.tracking_uri,
            )
        verify_artifacts(Path(local), recorded_sha256(self.tags), f"{self.uri} at {self.tracking_uri}")
        return Path(local)

    def load(self) -> Any:
        import mlflow.sklearn

        with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
            return mlflow.sklearn.load_model(str(self.download_model(Path(tmp))))

    def input_schema(self) -> list[dict[str, Any]]:
        """The signature's input columns as `[{name, type, required}]`, `[]` when unsigned."""
        from mlflow.models import Model

        with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
            model = Model.load(str(self.download_model(Path(tmp)) / "MLmodel"))
        if model.signature is None:
            return []
        return [{"name": c.name, "type": str(c.type), "required": c.required} for c in model.signature.inputs.inputs]


def get_version(
    tracking_uri: str, name: str, *, version: str | None = None, alias: str | None = None
) -> ModelVersionRef:
    """A version by number or alias in the registry at `tracking_uri`."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        mv = (
            client.get_model_version(name, version)
            if version
            else client.get_model_version_by_alias(name, alias or CHALLENGER)
        )
    except MlflowException as exc:
        what = f"version {version}" if version else f"alias @{alias or CHALLENGER}"
        raise VersionNotFound(f"model '{name}' has no {what} at {tracking_uri}") from exc
    run = client.get_run(mv.run_id) if mv.run_id else None
    return ModelVersionRef(
        tracking_uri=tracking_uri,
        name=name,
        version=str(mv.version),
        run_id=mv.run_id or "",
        tags=dict(mv.tags or {}),
        metrics=dict(run.data.metrics) if run else {},
        params=dict(run.data.params) if run else {},
    )


def find_alias(tracking_uri: str, name: str, alias: str) -> ModelVersionRef | None:
    try:
        return get_version(tracking_uri, name, alias=alias)
    except VersionNotFound:
        return None


def score(model: Any, rows: Any, target: str, task: str) -> dict[str, float]:
    """Evaluation metrics of a model on held-out rows (the same names the pipeline registers)."""
    import numpy as np
    from sklearn import metrics

    features = rows.drop(columns=[target])
    truth = rows[target].to_numpy()
    predicted = model.predict(features)
    if task == "regression":
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(truth, predicted))),
            "mae": float(metrics.mean_absolute_error(truth, predicted)),
            "r2": float(metrics.r2_score(truth, predicted)),
        }
    average = "binary" if len(np.unique(truth)) <= 2 else "macro"
    result = {
        "accuracy": float(metrics.accuracy_score(truth, predicted)),
        "precision": float(metrics.precision_score(truth, predicted, average=average, zero_division=0)),
        "recall": float(metrics.recall_score(truth, predicted, average=average, zero_division=0)),
        "f1": float(metrics.f1_score(truth, predicted, average=average, zero_division=0)),
    }
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        with contextlib.suppress(ValueError):
            result["roc_auc"] = float(
                metrics.roc_auc_score(truth, proba[:, 1])
                if average == "binary"
                else metrics.roc_auc_score(truth, proba, multi_class="ovr")
            )
    return result
