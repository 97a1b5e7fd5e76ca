"""The tracking server side of monitoring: the registered model's reference, and a run per monitoring pass."""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.registry import PROFILE_ARTIFACT
from contract import CHAMPION

log = logging.getLogger(__name__)

EXPERIMENT = "monitoring"
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")


@dataclass(frozen=True)
class RegisteredReference:
    name: str
    version: str
    run_id: str
    profile: dict[str, Any]
    metrics: dict[str, float]
    task: str | None


def fetch_reference(
    tracking_uri: str, name: str, *, version: str | None = None, alias: str = CHAMPION
) -> RegisteredReference:
    """Profile, test metrics and task of a registered model version (by version, else by alias)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        mv = client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        which = f"version {version}" if version else f"alias @{alias}"
        raise LookupError(
            f"registered model {name!r} {which} not found on {tracking_uri}: check --model, "
            f"--model-version/--alias, or pass --reference PATH ({exc.message})"
        ) from exc
    if not mv.run_id:
        raise LookupError(
            f"{name} version {mv.version} has no source run, so no reference profile: pass --reference PATH"
        )
    run_id = str(mv.run_id)
    run = client.get_run(run_id)
    metrics = {k.removeprefix("test_"): float(v) for k, v in run.data.metrics.items() if k.startswith("test_")}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=mv.run_id, artifact_path=PROFILE_ARTIFACT, dst_path=tmp, tracking_uri=tracking_uri
            )
        except (MlflowException, OSError) as exc:
            raise LookupError(
                f"{name} version {mv.version} (run {mv.run_id}) has no {PROFILE_ARTIFACT}: "
                "retrain it with `mlops train`, or pass --reference PATH"
            ) from exc
        profile = json.loads(Path(local).read_text())
    return RegisteredReference(name, str(mv.version), run_id, profile, metrics, (mv.tags or {}).get("task"))


def _key(*parts: str) -> str:
    return _UNSAFE.sub("_", ".".join(parts))[:250]


def monitoring_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Flat metrics of a monitoring result, for plotting drift over time on the tracking server."""
    columns = result["columns"]
    features = [c for c in columns if c["role"] == "feature"]
    out = {
        "rows": float(result["rows"]),
        "drifted_features": float(len(result["drifted_features"])),
        "drift_share": len(result["drifted_features"]) / max(1, len(features)),
        "prediction_drift": float(result["prediction_drift"]),
        "exit_code": float(result["exit_code"]),
        "labelled_rows": float(result["quality"]["labelled_rows"]),
    }
    for col in columns:
        for stat in ("psi", "ks_statistic", "jensen_shannon", "null_rate", "out_of_schema_rate"):
            if col.get(stat) is not None:
                out[_key(stat, col["name"])] = float(col[stat])
    for name, row in result["quality"]["metrics"].items():
        out[_key("live", name)] = float(row["live"])
    return out


def log_monitoring_run(tracking_uri: str, result: dict[str, Any], artifacts: list[Path]) -> str:
    """A run in the ``monitoring`` experiment holding the metrics, the JSON result and the report."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    tags = {
        "mlops.kind": "monitoring",
        "model.name": result["model"],
        "model.version": str(result.get("model_version") or ""),
        "monitor.status": result["status"],
        "window.start": str(result["window"]["start"] or ""),
        "window.end": str(result["window"]["end"] or ""),
        "mlflow.runName": f"monitor-{result['model']}-{result['generated_at'][:19]}",
    }
    run = client.create_run(experiment_id, tags=tags)

    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in monitoring_metrics(result).items()]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
    for path in artifacts:
        client.log_artifact(run.info.run_id, str(path))
    client.set_terminated(run.info.run_id)
    log.info("logged monitoring run %s to %s", run.info.run_id, tracking_uri)
    return str(run.info.run_id)
