"""Checks before `mlops env up` on the docker target, for the failures a user can fix in a second: a port
taken by another program, too little disk for the images, no Docker engine."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contract import label_filters

PORT_KEYS = ("registry", "tracking", "serving")
# The dependency image alone is about 1 GB; builds need room for layers on top.
MIN_FREE_BYTES = 5 * 1024**3


class PreflightFailed(RuntimeError):
    """Something outside the platform stops `up`; the message says what to do."""


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ours(client: Any, project: str, stack: str) -> set[int]:
    """Host ports published by this stack's own containers (a re-`up` finds them listening)."""
    ports: set[int] = set()
    filters = label_filters(stack, project)
    for container in client.containers.list(filters=filters):
        for bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
            ports.update(int(b["HostPort"]) for b in bindings or [] if b.get("HostPort"))
    return ports


def check_docker_stack(project: str, stack: str, config: Mapping[str, Any]) -> None:
    if config.get("target") != "docker":
        return
    import docker
    import docker.errors

    try:
        client = docker.from_env()
        info = client.info()
    except docker.errors.DockerException as exc:
        raise PreflightFailed(
            f"no Docker engine answers ({exc}). Run `make setup` (as root on Debian it installs and starts one), "
            "or start Docker Desktop / `sudo systemctl start docker`."
        ) from exc
    root = Path(info.get("DockerRootDir") or "/var/lib/docker")
    free = shutil.disk_usage(root if root.exists() else Path("/")).free
    if free < MIN_FREE_BYTES:
        raise PreflightFailed(
            f"only {free / 1024**3:.1f} GB free under {root}; the platform's images need about "
            f"{MIN_FREE_BYTES / 1024**3:.0f} GB. Free some space (e.g. `docker system prune`) and try again."
        )
    ours = _ours(client, project, stack)
    for key in PORT_KEYS:
        section = config.get(key) or {}
        port = section.get("port") if isinstance(section, Mapping) else None
        if port is not None and int(port) not in ours and _listening(int(port)):
            raise PreflightFailed(
                f"port {port} (mlops:{key}.port of stack {stack}) is already in use by another program. Stop it, "
                f"or choose a free port in stacks/Pulumi.{stack}.yaml."
            )
