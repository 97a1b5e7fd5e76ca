"""The model registry side: register a version with its lineage tags and artifact hash, move the
``challenger`` alias, write the model card, and read versions back for ``mlops models``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

from contract import CHALLENGER, TAG_ARTIFACT_SHA256, TAG_GATES, ModelRef
from ml.artifact_hash import artifact_sha256

log = logging.getLogger(__name__)

# The artifacts every training run logs next to its model, read back by promotion and monitoring.
HOLDOUT_ARTIFACT = "holdout.parquet"
PROFILE_ARTIFACT = "reference_profile.json"
SPEC_ARTIFACT = "dataset_spec.yaml"
MODEL_CARD_ARTIFACT = "model_card.md"


@dataclass(frozen=True)
class VersionSummary:
    name: str
    version: str
    run_id: str | None
    aliases: list[str]
    tags: dict[str, str]
    created_ms: int
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "aliases": self.aliases,
            "tags": self.tags,
            "created_ms": self.created_ms,
            "metrics": self.metrics,
        }


def register_version(
    client: MlflowClient, name: str, model_uri: str, model_id: str | None, run_id: str, tags: dict[str, str]
) -> str:
    """Create the registered model if needed and a new version carrying ``tags``; returns the version."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    try:
        client.create_registered_model(name, description="Trained and registered by `mlops train`.")
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
    # Hashed from the artifact store itself, so the tag describes exactly the files every later load downloads.
    location = client.get_logged_model(model_id).artifact_location if model_id else model_uri
    digest = model_artifact_sha256(client.tracking_uri, location)
    version = client.create_model_version(
        name,
        source=model_uri,
        run_id=run_id,
        tags={**tags, TAG_ARTIFACT_SHA256: digest},
        model_id=model_id,
        await_creation_for=30,
    )
    return str(version.version)


def model_artifact_sha256(tracking_uri: str, location: str) -> str:
    """The artifact hash (`ml.artifact_hash`) of the model directory at `location` (an artifact URI such as
    `mlflow-artifacts:/1/models/m-.../artifacts`), downloaded through `tracking_uri`."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="mlops-hash-") as tmp:
        # A storage location, not a models:/ URI: MLflow resolves those against the process-wide registry.
        local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp, tracking_uri=tracking_uri)
        return artifact_sha256(Path(local))


def tag_artifact_sha256(client: MlflowClient, name: str, version: str) -> str:
    """Record the artifact hash of a version created without `register_version` (for example by
    `mlflow.sklearn.log_model(registered_model_name=...)`); call it right after creating the version."""
    digest = model_artifact_sha256(client.tracking_uri, client.get_model_version_download_uri(name, version))
    client.set_model_version_tag(name, version, TAG_ARTIFACT_SHA256, digest)
    return digest


def set_challenger(client: MlflowClient, name: str, version: str) -> None:
    client.set_registered_model_alias(name, CHALLENGER, version)


def model_card(
    *,
    name: str,
    version: str,
    run_id: str,
    task: str,
    estimator: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    gates: list[dict[str, Any]],
    data: dict[str, str],
    git: dict[str, str],
    challenger: bool,
) -> str:
    """A short markdown card: what the model is, what it was trained on, how good it is, what it passed."""
    lines = [
        f"# {name} v{version}",
        "",
        f"- task: {task}; estimator: `{estimator}`; run: `{run_id}`",
        f"- data: `{data['uri']}` ({data['rows']} rows), sha256 `{data['sha256']}`",
        f"- code: git commit `{git['commit']}` (dirty: {git['dirty']})",
        f"- alias: {f'`{CHALLENGER}`' if challenger else f'none (a gate failed, so `{CHALLENGER}` was not moved)'}",
        "",
        "## Hyperparameters",
        "",
        *(f"- `{key}`: `{value}`" for key, value in sorted(params.items())),
        "",
        "## Held-out metrics",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {key} | {value:.4f} |" for key, value in sorted(metrics.items())),
        "",
        "## Gates",
        "",
        "| gate | passed | value | threshold | detail |",
        "|---|---|---|---|---|",
        *(
            f"| {g['name']} | {'yes' if g['passed'] else '**no**'} | {g['value']} | {g['threshold']} | {g['detail']} |"
            for g in gates
        ),
        "",
        "## Use",
        "",
        f"`mlflow.sklearn.load_model('{ModelRef.pinned(name, version).uri}')` returns a scikit-learn Pipeline",
        "taking the raw feature columns of the signature (the column transformer is inside). It needs this",
        "repository's `ml` package importable when the pipeline uses `ml.features` transformers.",
        "",
    ]
    return "\n".join(lines)


def _summary(client: MlflowClient, mv: Any, with_metrics: bool) -> VersionSummary:
    metrics: dict[str, float] = {}
    if with_metrics and mv.run_id:
        run = client.get_run(mv.run_id)
        metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
    return VersionSummary(
        name=mv.name,
        version=str(mv.version),
        run_id=mv.run_id,
        aliases=list(getattr(mv, "aliases", []) or []),
        tags=dict(mv.tags or {}),
        created_ms=int(mv.creation_timestamp or 0),
        metrics=metrics,
    )


def list_versions(client: MlflowClient, name: str | None = None, limit: int = 50) -> list[VersionSummary]:
    query = f"name = '{name}'" if name else ""
    versions = client.search_model_versions(query, max_results=limit, order_by=["creation_timestamp DESC"])
    # search_model_versions leaves aliases out; the registered models carry them.
    aliases: dict[tuple[str, str], list[str]] = {}
    for model_name in {mv.name for mv in versions}:
        for alias, version in client.get_registered_model(model_name).aliases.items():
            aliases.setdefault((model_name, str(version)), []).append(alias)
    out = []
    for mv in versions:
        summary = _summary(client, mv, with_metrics=False)
        out.append(
            VersionSummary(**{**summary.__dict__, "aliases": sorted(aliases.get((mv.name, str(mv.version)), []))})
        )
    return out


def show_version(client: MlflowClient, name: str, version_or_alias: str) -> VersionSummary:
    if version_or_alias.isdigit():
        mv = client.get_model_version(name, version_or_alias)
    else:
        mv = client.get_model_version_by_alias(name, version_or_alias)
    return _summary(client, mv, with_metrics=True)


def gates_from_tags(tags: dict[str, str]) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(tags.get(TAG_GATES, "[]"))
    except json.JSONDecodeError:
        return []
    return parsed if isinstance(parsed, list) else []
