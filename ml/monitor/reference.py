"""The reference a monitoring window is judged against: a registered version's profile, metrics and task."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import CHAMPION
from ml.registry import PROFILE_ARTIFACT


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
