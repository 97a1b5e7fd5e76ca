"""Resolve a `models:/` URI on the tracking server and keep a local copy of the version it points to.

The cache is what lets a restarted server come up while the tracking server is down: a pinned version is
immutable, so a cached copy is always valid; an alias falls back to the version it last resolved to.

Every copy is checked against the artifact hash the registry recorded at registration (`ml.artifact_hash`)
before it is published into the cache and again whenever it is taken from there, so a pickle that changed in
the artifact store or in the cache is refused before anything unpickles it. Replicas may share one cache
directory: each downloads into a private directory inside it and publishes it with one rename; when another
replica published the same version first, its copy is checked and used.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from contract import ModelRef
from ml import mlflow_log
from ml.artifact_hash import ArtifactIntegrityError, recorded_sha256, verify_artifacts

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model cannot be resolved from the tracking server or the cache."""


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    alias: str | None
    run_id: str | None
    data_sha256: str | None
    source: str
    resolved_at: float
    artifact_sha256: str | None = None
    """The hash the registry recorded for the version (None: registered without one, loaded by opt-out)."""

    @classmethod
    def read(cls, version_dir: Path) -> Manifest:
        return cls(**json.loads((version_dir / "manifest.json").read_text()))


def version_dir(cache: Path, name: str, version: str) -> Path:
    return cache / name / "versions" / version


def verify_cached(target: Path) -> Manifest:
    """Check a cached version's model files against the hash recorded in its manifest; returns the manifest."""
    manifest = Manifest.read(target)
    what = f"{ModelRef.pinned(manifest.name, manifest.version).uri} (cached copy in {target})"
    try:
        verify_artifacts(target / "model", manifest.artifact_sha256, what)
    except ArtifactIntegrityError as exc:
        raise ModelLoadError(f"{exc}; delete {target} to download it again") from exc
    return manifest


def fetch(uri: str, tracking_uri: str | None, cache: Path) -> Path:
    """Return the cached directory of the model version `uri` names, downloading it when needed."""
    ref = ModelRef.parse(uri)
    pinned = version_dir(cache, ref.name, ref.version) if ref.version is not None else None
    if pinned is not None and (pinned / "manifest.json").exists():
        if tracking_uri and Manifest.read(pinned).artifact_sha256 is None:
            # Cached before hashes were recorded: the registry may hold its hash by now (`mlops models trust`).
            log.info(
                "model %s version %s cached without a hash: checking it against %s", ref.name, ref.version, tracking_uri
            )
        else:
            log.info("model %s version %s found in cache %s", ref.name, ref.version, cache)
            verify_cached(pinned)
            return pinned
    if not tracking_uri:
        raise ModelLoadError(
            f"{uri} is not in the cache {cache} and no tracking URI is set: pass --tracking-uri or set "
            "MLFLOW_TRACKING_URI"
        )
    try:
        return _download(ref, tracking_uri, cache)
    except ModelLoadError:
        raise
    except Exception as exc:
        fallback = _cached_alias(cache, ref) or (pinned if pinned and (pinned / "manifest.json").exists() else None)
        if fallback is None:
            raise ModelLoadError(
                f"cannot load {uri} from {tracking_uri} ({type(exc).__name__}: {exc}) and there is no cached copy "
                f"in {cache}: check that the tracking server is up"
            ) from exc
        log.warning("tracking server %s unreachable (%s); serving cached version at %s", tracking_uri, exc, fallback)
        verify_cached(fallback)
        return fallback


def _download(ref: ModelRef, tracking_uri: str, cache: Path) -> Path:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    # An outage should fall back to the cache in seconds, not after MLflow's default minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        if ref.alias is not None:
            mv = client.get_model_version_by_alias(ref.name, ref.alias)
        else:
            mv = client.get_model_version(ref.name, str(ref.version))
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise ModelLoadError(
                f"{ref.name} {'@' + ref.alias if ref.alias else 'version ' + str(ref.version)} does not exist "
                f"on {tracking_uri}: check the name and alias with `mlops models list`"
            ) from exc
        raise
    target = version_dir(cache, ref.name, str(mv.version))
    if not (target / "manifest.json").exists():
        # The registry is pinned too: models:/ resolves against the registry URI, not the tracking server.
        with mlflow_log.tracking_to(tracking_uri):
            _download_and_publish(ref, mv, tracking_uri, target)
    else:
        _use_published(target, recorded_sha256(mv.tags or {}), tracking_uri)
    if ref.alias is not None:
        _write_json(cache / ref.name / "aliases" / f"{ref.alias}.json", {"version": str(mv.version)})
    log.info("model %s version %s resolved from %s", ref.name, mv.version, tracking_uri)
    return target


def _download_and_publish(ref: ModelRef, mv: Any, tracking_uri: str, target: Path) -> None:
    """Download into a private directory beside `target`, check it, then publish it with one rename."""
    import mlflow

    uri = ModelRef.pinned(ref.name, str(mv.version)).uri
    recorded = recorded_sha256(mv.tags or {})
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(staging / "model"), tracking_uri=tracking_uri, registry_uri=tracking_uri
        )
        try:
            verify_artifacts(staging / "model", recorded, f"{uri} at {tracking_uri}")
        except ArtifactIntegrityError as exc:
            raise ModelLoadError(str(exc)) from exc
        manifest = Manifest(
            name=ref.name,
            version=str(mv.version),
            alias=ref.alias,
            run_id=mv.run_id,
            data_sha256=(mv.tags or {}).get("data.sha256"),
            source=tracking_uri,
            resolved_at=time.time(),
            artifact_sha256=recorded,
        )
        (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
        try:
            # rename(2) publishes the whole directory at once and refuses to replace a non-empty one, so a
            # replica never sees half a copy and never deletes one another replica is loading.
            staging.rename(target)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("another process published %s into %s first; checking and using its copy", uri, target)
    _use_published(target, recorded, tracking_uri)


def _use_published(target: Path, recorded: str | None, tracking_uri: str) -> None:
    """A copy already in the cache (an earlier start's or another replica's), checked against the hash the
    registry records now."""
    manifest = Manifest.read(target)
    what = f"{ModelRef.pinned(manifest.name, manifest.version).uri} (cached copy in {target}, from {tracking_uri})"
    try:
        verify_artifacts(target / "model", recorded, what)
    except ArtifactIntegrityError as exc:
        raise ModelLoadError(f"{exc}; delete {target} to download it again") from exc
    if manifest.artifact_sha256 != recorded:
        # Cached before hashes were recorded; its files match the registry's hash, which the workers check next.
        _write_json(target / "manifest.json", asdict(replace(manifest, artifact_sha256=recorded)))


def _cached_alias(cache: Path, ref: ModelRef) -> Path | None:
    if ref.alias is None:
        return None
    pointer = cache / ref.name / "aliases" / f"{ref.alias}.json"
    if not pointer.exists():
        return None
    target = version_dir(cache, ref.name, json.loads(pointer.read_text())["version"])
    return target if (target / "manifest.json").exists() else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of its own: replicas sharing the cache write the same pointer at the same time.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w") as stream:
        stream.write(json.dumps(data))
    os.replace(tmp, path)
