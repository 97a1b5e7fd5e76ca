"""What a stack's own state says before a preview or an update: the model it serves now (handed to the
program, so an unreachable tracking server never plans serving away), the base images its images were built
FROM (for a machine with no record of them) and the lock a killed run left."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract import BASE_IMAGES_ENV, DEPLOYED_MODEL_ENV, TRACKING_CREDENTIALS_ENV, Outputs
from mlops.project import EnvironmentUnavailable, backend_url, project

if TYPE_CHECKING:
    from pulumi import automation as auto

log = logging.getLogger(__name__)


def deployed_model(selected: auto.Stack, deployment: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the stack's state says is served now, as `infra.model_ref` reads it from `DEPLOYED_MODEL_ENV`.

    Read from the state (one `pulumi stack export`), never from the infrastructure: the tracking server or
    the cluster being unreachable is exactly the case this serves. `deployed` is false until an `up` has
    completed with a tracking server (its `tracking_uri` output): before that, the reference cannot exist
    anywhere, so the first `up` (or a retry of a failed first `up`) plans no serving.
    """
    if deployment is None:
        deployment = selected.export_stack().deployment or {}
    resources = deployment.get("resources") or []
    root: dict[str, Any] = next((r for r in resources if r.get("type") == "pulumi:pulumi:Stack"), {})
    outputs = root.get("outputs") or {}
    served = outputs.get(Outputs.SERVED_MODEL_URI) or ""
    deployed = bool(outputs.get(Outputs.TRACKING_URI))
    return {"stack": selected.name, "deployed": deployed, "served": served if isinstance(served, str) else ""}


def deployed_bases(deployment: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """`{NAME: {"identity", "id"}}`: the base images the stack's images were last built FROM, from their inputs
    in the state (`infra.images.base` reads it from `BASE_IMAGES_ENV` where no record exists)."""
    bases: dict[str, dict[str, str]] = {}
    for resource in deployment.get("resources") or []:
        inputs = resource.get("inputs") or {}
        if inputs.get("kind") == "docker:Image" and inputs.get("base_image") and inputs.get("base_id"):
            identity = inputs.get("base_identity") or inputs["base_id"]
            bases[str(inputs["base_image"])] = {"identity": str(identity), "id": str(inputs["base_id"])}
    return bases


def tracking_login_hint(selected: auto.Stack) -> str:
    """The tracking server's login from the stack's secret outputs, as `infra.model_ref` reads it from
    `TRACKING_CREDENTIALS_ENV` ("" when the server runs no basic auth or the stack was never up)."""
    output = selected.outputs().get(Outputs.TRACKING_CREDENTIALS)
    value = output.value if output is not None else None
    if not isinstance(value, dict) or not value.get("username"):
        return ""
    return json.dumps({"stack": selected.name, "username": value["username"], "password": value.get("password", "")})


def hand_deployed_model(selected: auto.Stack) -> None:
    """Attach the stack's served model (and its tracking login, which the model lookup needs) to its program:
    set in this process for the program's run only, keyed by the stack; never in a child's environment."""
    deployment = selected.export_stack().deployment or {}
    bases = deployed_bases(deployment)
    hints = {
        DEPLOYED_MODEL_ENV: json.dumps(deployed_model(selected, deployment)),
        TRACKING_CREDENTIALS_ENV: tracking_login_hint(selected),
        BASE_IMAGES_ENV: json.dumps(bases) if bases else "",
    }
    program = selected.workspace.program

    def with_deployed_model() -> None:
        previous = {key: os.environ.get(key) for key in hints}
        os.environ.update({key: value for key, value in hints.items() if value})
        try:
            if program is not None:
                program()
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    selected.workspace.program = with_deployed_model


def stack_locks(stack: str) -> list[Path]:
    """The lock files of `stack` in a file backend (none for other backends)."""
    url = backend_url()
    if not url.startswith("file://"):
        return []
    locks = Path(url[len("file://") :].split("?", 1)[0]).expanduser() / ".pulumi" / "locks"
    return sorted([*locks.glob(f"*/{project().name}/{stack}/*.json"), *locks.glob(f"{stack}/*.json")])


def alive(pid: int) -> bool:
    """Whether `pid` runs on this machine. A zombie does not: a killed CLI whose parent died too stays one
    until an init reaps it, and not every init does."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def clear_stale_lock(selected: auto.Stack) -> None:
    """Remove the lock a killed `pulumi up` left in a file backend, or say who holds a live one.

    A SIGKILLed update cannot remove its lock file, and every later `up` of the stack then fails with
    "the stack is currently locked". A lock whose process is gone on this machine is stale: `pulumi cancel`
    removes it (the state's pending operations are settled by the next refresh, and the docker provider
    adopts what the killed run left). A lock of a running process, or of another machine, is left alone.
    """
    import socket

    stale: list[str] = []
    live: list[str] = []
    for path in stack_locks(selected.name):
        try:
            holder = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid, host = int(holder.get("pid") or 0), str(holder.get("hostname") or "")
        mine = host == socket.gethostname()
        (stale if mine and pid and not alive(pid) else live).append(f"pid {pid} on {host or '?'}")
    if live:
        raise EnvironmentUnavailable(
            f"Stack '{selected.name}' is locked by another Pulumi run ({', '.join(live)}): wait for it to finish. "
            f"If it is dead (another machine), remove the lock with `pulumi cancel --stack {selected.name}`."
        )
    if stale:
        selected.cancel()
        # A warning: shown on stderr even where logging is not configured.
        log.warning(
            "stack %s: removed the lock of a killed Pulumi run (%s); this run finishes its work",
            selected.name,
            ", ".join(stale),
        )
