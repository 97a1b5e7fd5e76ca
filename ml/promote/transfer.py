"""Copy a model version from one environment's registry to another's, carrying its whole lineage.

MLflow's `copy_model_version` works only inside one registry; environments here each have their own
tracking server. So the artifacts travel through a local directory and are registered again, and every
fact about where the version came from becomes a tag of the new version.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from contract import (
    TAG_ARTIFACT_SHA256,
    TAG_LINEAGE_SOURCE_ENV,
    TAG_LINEAGE_SOURCE_RUN_ID,
    TAG_LINEAGE_SOURCE_TRACKING_URI,
    TAG_LINEAGE_SOURCE_VERSION,
    TAG_PROMOTION_APPROVED_BY,
    TAG_PROMOTION_GATES,
    TAG_PROMOTION_ID,
    VERSION_TAGS,
)
from ml.artifact_hash import artifact_sha256
from ml.mlflow_log import tracking_to
from ml.promote.audit import _split as split_tag
from ml.promote.checks import GateResult
from ml.promote.versions import ModelVersionRef, get_version
from ml.registry import HOLDOUT_ARTIFACT, MODEL_CARD_ARTIFACT, PROFILE_ARTIFACT, SPEC_ARTIFACT

log = logging.getLogger(__name__)

EXPERIMENT = "mlops-promoted-models"
# Run artifacts that explain a version: copied next to the model in the target.
COMPANIONS = (HOLDOUT_ARTIFACT, PROFILE_ARTIFACT, MODEL_CARD_ARTIFACT, SPEC_ARTIFACT)


def lineage_tags(
    source_env: str, candidate: ModelVersionRef, gates: list[GateResult], approved_by: str | None, promotion_id: str
) -> dict[str, str]:
    tags = {key: candidate.tags[key] for key in VERSION_TAGS if key in candidate.tags}
    tags.update(
        {
            TAG_LINEAGE_SOURCE_ENV: source_env,
            TAG_LINEAGE_SOURCE_TRACKING_URI: candidate.tracking_uri,
            TAG_LINEAGE_SOURCE_RUN_ID: candidate.run_id,
            TAG_LINEAGE_SOURCE_VERSION: candidate.version,
            TAG_PROMOTION_ID: promotion_id,
            TAG_PROMOTION_GATES: json.dumps([g.to_dict() for g in gates]),
            TAG_PROMOTION_APPROVED_BY: approved_by or "",
        }
    )
    return tags


def run_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The version's tags as tags of the run that carries the copy, none of them cut: a value longer than one
    run tag may be (gate results, a wide data schema) is split over `key.0`, `key.1`, ... with `key.parts`,
    as the audit log stores its long values (`ml.promote.audit`). The version's own tags stay whole (the
    registry takes values up to 100,000 characters); they are what readers use."""
    return {name: part for key, value in tags.items() for name, part in split_tag(key, value).items()}


def _model_card(candidate: ModelVersionRef, source_env: str, tags: Mapping[str, str], original: Path | None) -> str:
    body = original.read_text() if original and original.exists() else f"# {candidate.name}\n"
    gates = json.loads(tags[TAG_PROMOTION_GATES])
    rows = "\n".join(f"| {g['name']} | {'pass' if g['passed'] else 'FAIL'} | {g['detail']} |" for g in gates)
    return (
        f"{body}\n\n## Promotion\n\n"
        f"Copied from environment `{source_env}` ({candidate.tracking_uri}), version {candidate.version}, "
        f"run `{candidate.run_id}`. Approved by: {tags[TAG_PROMOTION_APPROVED_BY] or 'not required'}.\n\n"
        f"| gate | result | detail |\n|---|---|---|\n{rows}\n"
    )


def copy_version(
    candidate: ModelVersionRef, source_env: str, target_uri: str, tags: Mapping[str, str], timeout: float = 120.0
) -> ModelVersionRef:
    """Register `candidate` in the registry at `target_uri`; returns the new version there."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=target_uri, registry_uri=target_uri)
    with tempfile.TemporaryDirectory(prefix="mlops-transfer-") as tmp:
        workdir = Path(tmp)
        model_dir = candidate.download_model(workdir / "model")
        # Checked against the source's recorded hash by download_model; the copy carries the same files and hash.
        version_tags = {**tags, TAG_ARTIFACT_SHA256: artifact_sha256(model_dir)}
        companions: dict[str, Path] = {}
        for name in COMPANIONS:
            try:
                companions[name] = candidate.download(name, workdir / "companions")
            except (MlflowException, OSError) as exc:
                log.warning("source version has no %s (%s): not copied", name, exc)
        card = workdir / MODEL_CARD_ARTIFACT
        card.write_text(_model_card(candidate, source_env, tags, companions.get(MODEL_CARD_ARTIFACT)))
        companions[MODEL_CARD_ARTIFACT] = card
        with tracking_to(target_uri):
            mlflow.set_experiment(EXPERIMENT)
            with mlflow.start_run(run_name=f"{candidate.name} v{candidate.version} from {source_env}") as run:
                mlflow.log_params({k: v[:500] for k, v in candidate.params.items()})
                mlflow.log_metrics(dict(candidate.metrics))
                mlflow.set_tags(run_tags(tags))
                mlflow.log_artifacts(str(model_dir), artifact_path="model")
                for path in companions.values():
                    mlflow.log_artifact(str(path))
        # Already registered in the target: the new version joins it.
        with contextlib.suppress(MlflowException):
            client.create_registered_model(candidate.name)
        version = client.create_model_version(
            name=candidate.name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags=version_tags
        )
    deadline = time.monotonic() + timeout
    while client.get_model_version(candidate.name, version.version).status == "PENDING_REGISTRATION":
        if time.monotonic() > deadline:
            raise TimeoutError(f"model version {candidate.name}/{version.version} still pending after {timeout:.0f}s")
        time.sleep(0.5)
    return get_version(target_uri, candidate.name, version=str(version.version))
