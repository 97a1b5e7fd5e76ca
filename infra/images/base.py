"""Which base image the platform images build FROM, by content, not only by name.

A tag such as `mlops-base:bookworm-py311` is a name anything can be given. The bootstrap's base-image step
records what it pulled or built beside its cache (`scripts/toolchain/base_image.py`): the image ID, and the
repo digest when it was pulled. That identity goes into every derived image's content tag, so a base made
again gives every image a new tag and is never used silently under the old one; the image provider builds
FROM the name only while the name still points at the recorded image ID.

The record is a file, so a preview on a machine whose engine is down plans the same tags as the deploy. A
machine without the record (a CI runner previewing with no engine) uses what the stack's state says its
images were last built from (`contract.BASE_IMAGES_ENV`, handed over by the operator).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import BASE_IMAGES_ENV


@dataclass(frozen=True)
class BaseImage:
    name: str
    identity: str = ""
    """The repo digest when pulled, else the image ID; empty when nothing recorded it (tags hash the name)."""
    image_id: str = ""
    """The image ID the engine's `name` must point at for a build FROM it (empty: not checked)."""


def record_path() -> Path:
    """The bootstrap's record: `toolchain.pins.cache_dir() / toolchain.base_image.RECORD_FILE`."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mlops-platform" / "toolchain" / "base-image" / "identity.json"


def _entries(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def recorded() -> dict[str, Any]:
    try:
        return _entries(record_path().read_text())
    except OSError:
        return {}


def base_identity(name: str) -> BaseImage:
    """`name` with its identity: from the bootstrap's record, else from the stack's state, else unknown."""
    for entries in (recorded(), _entries(os.environ.get(BASE_IMAGES_ENV) or "{}")):
        entry = entries.get(name)
        if isinstance(entry, dict) and entry.get("id"):
            image_id = str(entry["id"])
            identity = str(entry.get("identity") or entry.get("repo_digest") or image_id)
            return BaseImage(name, identity, image_id)
    return BaseImage(name)
