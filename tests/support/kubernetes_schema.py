"""Strict validation of a manifest against the Kubernetes schema of the version our clusters run."""

from __future__ import annotations

from typing import Any

KUBERNETES_VERSION = "1.33.0"


def kubernetes_schema_problem(manifest: dict[str, Any]) -> str | None:
    """Why `manifest` is not a valid object of Kubernetes KUBERNETES_VERSION (strict: unknown fields fail)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        where = "/".join(str(p) for p in err.path)
        return f"{manifest['kind']} {manifest['metadata']['name']}: {where}: {err.message}"
    return None
