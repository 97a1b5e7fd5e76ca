"""The artifact hash of a model version: one SHA-256 over the files of its MLflow model directory.

A registered model is a pickle (or skops file) and loading it can run code, so a version's files are hashed
when it is registered (the `artifact.sha256` tag) and hashed again, and compared, before anything loads them.
Whoever can write the artifact store but not the registry's tags cannot get code run that way.

The digest covers every file's path relative to the model directory and its bytes, in path order, with
lengths in between so no two different trees hash alike. Only MLflow's own `registered_model_meta` is left
out: MLflow writes it into every download of `models:/NAME/VERSION` (the name and version, no code), so it
differs between the copy hashed at registration and the copies loaded later.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from contract import TAG_ARTIFACT_SHA256

log = logging.getLogger(__name__)

TAG = TAG_ARTIFACT_SHA256
ALLOW_UNHASHED_ENV = "MLOPS_ALLOW_UNHASHED_MODELS"
"""Set to 1 to load versions registered before artifact hashes were recorded (no `artifact.sha256` tag)."""
# Written by MLflow into each download of a registered version, never uploaded by us (see the docstring).
IGNORED_FILES = frozenset({"registered_model_meta"})
_FORMAT = b"mlops-artifact-sha256/1\0"
_CHUNK = 1 << 20
_TRUE = ("1", "true", "yes", "on")


class ArtifactIntegrityError(RuntimeError):
    """A model's files do not match the hash recorded at registration, or no hash was recorded."""


def artifact_sha256(model_dir: Path) -> str:
    """The hex SHA-256 of the model directory `model_dir` (relative paths and contents of its files)."""
    if not model_dir.is_dir():
        raise ArtifactIntegrityError(f"{model_dir} is not a model directory: nothing to hash")
    digest = hashlib.sha256(_FORMAT)
    for relative, path in _files(model_dir):
        name = relative.encode()
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def _files(model_dir: Path) -> list[tuple[str, Path]]:
    found = []
    for root, dirs, files in os.walk(model_dir):
        for name in [*dirs, *files]:
            path = Path(root, name)
            if path.is_symlink():
                # A link could point at any file on the host; MLflow never writes one into a model.
                raise ArtifactIntegrityError(f"{path} is a symbolic link: a model directory holds only files")
        for name in files:
            path = Path(root, name)
            relative = path.relative_to(model_dir).as_posix()
            if relative not in IGNORED_FILES:
                found.append((relative, path))
    return sorted(found)


def recorded_sha256(tags: Mapping[str, str]) -> str | None:
    """The hash a version's tags recorded at registration, or None for a version registered before them."""
    return tags.get(TAG) or None


def unhashed_allowed(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(ALLOW_UNHASHED_ENV, "")
    return value.strip().lower() in _TRUE


def verify_artifacts(model_dir: Path, recorded: str | None, model: str) -> str:
    """Hash `model_dir` and compare it with `recorded` before anything is loaded from it; returns the hash.

    `model` names the version in the errors (e.g. `models:/churn/3`). A version without a recorded hash is
    refused unless MLOPS_ALLOW_UNHASHED_MODELS=1.
    """
    actual = artifact_sha256(model_dir)
    if recorded is None:
        if not unhashed_allowed():
            raise ArtifactIntegrityError(
                f"{model} has no `{TAG}` tag (registered before artifact hashes were recorded, or not through "
                f"`mlops train` or `mlops promote`), so its files cannot be checked and it is not loaded: "
                "re-register it from a trusted run, record the hash of its files as they are now with "
                f"`mlops models trust NAME VERSION --env ENV` if you trust them, or set {ALLOW_UNHASHED_ENV}=1 to "
                "load unhashed versions from a registry you trust"
            )
        log.warning(
            "%s has no %s tag; loaded unchecked because %s is set (its files hash to %s)",
            model,
            TAG,
            ALLOW_UNHASHED_ENV,
            actual,
        )
        return actual
    if actual != recorded:
        raise ArtifactIntegrityError(
            f"{model}: its files hash to sha256 {actual}, but {recorded} was recorded when it was registered "
            f"(tag `{TAG}`), so they changed afterwards and are not loaded: re-register the model from "
            "a trusted run (`mlops train`, or promote it again from a source you trust) and find out who could "
            "write the artifact store"
        )
    return actual
