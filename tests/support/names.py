"""Registered-model names no other test uses: the suites share one MLflow server per session."""

from __future__ import annotations

import re
import uuid

from contract import MODEL_URI, ModelRef

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._-]+")


def unique_model_name(hint: str) -> str:
    """`<hint>-<8 hex>`, where `hint` (say a test's name) is cut to what the `models:/` grammar allows."""
    stem = _NOT_ALLOWED.sub("-", hint).strip("-._")[:40] or "model"
    name = f"{stem}-{uuid.uuid4().hex[:8]}"
    if not MODEL_URI.match(ModelRef.pinned(name, 1).uri):
        raise ValueError(f"{name!r} is not a valid registered-model name")
    return name
