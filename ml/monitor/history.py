"""Monitoring history on the tracking server: one run per monitoring pass, so drift can be plotted over time."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXPERIMENT = "monitoring"
TAG_STATUS = "monitor.status"
TAG_DRIFTED_FEATURES = "monitor.drifted_features"
"""The drifted features of the pass, comma-separated (`mlops loop status` shows them)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")


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
        TAG_STATUS: result["status"],
        TAG_DRIFTED_FEATURES: ",".join(result["drifted_features"])[:5000],
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
