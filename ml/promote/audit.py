"""The promotion audit log of an environment: one MLflow run per attempt in the environment's own tracking
server, so the record lives (and is backed up) with the registry it describes."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml.promote.versions import using_tracking

EXPERIMENT = "mlops-promotions"


def actor() -> str:
    """Who is promoting: the CI actor when CI runs it, else the local user."""
    return os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or getpass.getuser()


@dataclass(frozen=True)
class AuditEntry:
    action: str  # promote | rollback
    outcome: str  # promoted | refused | needs_approval | rolled_back | failed | rolled_back_failed
    model: str
    source_env: str
    target_env: str
    source_version: str
    target_version: str
    previous_version: str
    approved_by: str
    reason: str
    gates: list[Mapping[str, Any]]
    actor: str = ""
    when: str = ""


def record(tracking_uri: str, entry: AuditEntry) -> str:
    import mlflow

    with using_tracking(tracking_uri):
        mlflow.set_experiment(EXPERIMENT)
        with mlflow.start_run(run_name=f"{entry.action} {entry.model} -> {entry.outcome}") as run:
            mlflow.set_tags(
                {
                    "audit.action": entry.action,
                    "audit.outcome": entry.outcome,
                    "audit.model": entry.model,
                    "audit.source_env": entry.source_env,
                    "audit.target_env": entry.target_env,
                    "audit.source_version": entry.source_version,
                    "audit.target_version": entry.target_version,
                    "audit.previous_version": entry.previous_version,
                    "audit.approved_by": entry.approved_by,
                    "audit.actor": entry.actor or actor(),
                    "audit.reason": entry.reason[:5000],
                    "audit.gates": json.dumps(list(entry.gates))[:5000],
                }
            )
        return str(run.info.run_id)


def history(tracking_uri: str, model: str | None = None, limit: int = 50) -> list[AuditEntry]:
    """Newest first."""
    from datetime import UTC, datetime

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    query = f"tags.`audit.model` = '{model}'" if model else ""
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=query, max_results=limit, order_by=["attributes.start_time DESC"]
    )
    entries = []
    for run in runs:
        tag = run.data.tags.get
        entries.append(
            AuditEntry(
                action=tag("audit.action", ""),
                outcome=tag("audit.outcome", ""),
                model=tag("audit.model", ""),
                source_env=tag("audit.source_env", ""),
                target_env=tag("audit.target_env", ""),
                source_version=tag("audit.source_version", ""),
                target_version=tag("audit.target_version", ""),
                previous_version=tag("audit.previous_version", ""),
                approved_by=tag("audit.approved_by", ""),
                reason=tag("audit.reason", ""),
                gates=json.loads(tag("audit.gates", "[]") or "[]"),
                actor=tag("audit.actor", ""),
                when=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).isoformat(timespec="seconds"),
            )
        )
    return entries
