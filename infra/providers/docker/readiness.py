"""A container's replacement: wait until it is ready, and keep the container it replaces set aside (renamed,
stopped) until then, so a replacement that never becomes ready leaves the previous one serving."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from contract import LABEL_PROJECT, LABEL_STACK
from infra.providers.docker.engine import not_found

log = logging.getLogger(__name__)


SETTLE_S = 2.0


def wait_ready(container: Any, has_health: bool, timeout_s: int) -> None:
    """Wait until the container is healthy (or running, without a healthcheck); fail with its last logs."""
    deadline = time.monotonic() + timeout_s
    running_since: float | None = None
    while True:
        container.reload()
        state = container.attrs["State"]
        status = (state.get("Health") or {}).get("Status") if has_health else None
        running_since = (running_since or time.monotonic()) if state.get("Running") else None
        if state.get("Status") in ("exited", "dead") and not state.get("Restarting"):
            problem = f"exited with code {state.get('ExitCode')}"
        elif container.attrs.get("RestartCount"):
            # A restart before the first ready state is a crash loop, not a slow start.
            problem = f"crashed and was restarted (exit code {state.get('ExitCode')})"
        elif status == "healthy":
            return
        elif not has_health and running_since is not None and time.monotonic() - running_since >= SETTLE_S:
            # Without a healthcheck, "running" is only believed once it lasts: a process that fails at
            # start-up is briefly running too.
            return
        elif time.monotonic() > deadline:
            problem = f"was not {'healthy' if has_health else 'running'} after {timeout_s} s"
        else:
            time.sleep(0.5)
            continue
        tail = container.logs(tail=30).decode("utf-8", "replace")
        raise RuntimeError(f"container {container.name} {problem}; last log lines:\n{tail}")


def docker_errors() -> Any:
    import docker.errors

    return docker.errors


def ours(container: Any, labels: Mapping[str, str]) -> bool:
    """Whether the container belongs to the stack `labels` name: by the stack's identity labels only, so a
    label added in a later release (a role, say) does not disown the containers an earlier one created."""
    identity = {key: value for key, value in labels.items() if key in (LABEL_STACK, LABEL_PROJECT)}
    found = container.attrs.get("Config", {}).get("Labels") or {}
    return bool(identity) and all(found.get(key) == value for key, value in identity.items())


def set_aside(docker_client: Any, name: str, labels: Mapping[str, str]) -> Any | None:
    """Rename and stop a same-named container of this stack; refuse one that is not ours."""
    try:
        existing = docker_client.containers.get(name)
    except not_found():
        return None
    if not ours(existing, labels):
        raise RuntimeError(
            f"a container named {name} exists and is not this stack's (labels {labels} do not match): "
            "remove or rename it, then run `up` again"
        )
    was_running = bool(existing.attrs.get("State", {}).get("Running"))
    aside_name = f"{name}-aside-{existing.id[:12]}"
    try:
        existing.rename(aside_name)
    except docker_errors().APIError:
        # A container its restart policy is restarting (a crash loop) has no network sandbox, and the
        # engine refuses to rename it: stopped, it can be.
        existing.stop(timeout=10)
        existing.rename(aside_name)
    existing.stop(timeout=10)
    existing.was_running = was_running
    log.info("container %s set aside while its replacement starts", name)
    return existing


def restore(aside: Any | None, name: str, has_health: bool, timeout_s: int) -> None:
    """Put a set-aside container back as it was, after its replacement failed, and wait until it is ready."""
    if aside is None:
        return
    try:
        aside.rename(name)
        if getattr(aside, "was_running", False):
            aside.start()
            wait_ready(aside, has_health, timeout_s)
        log.warning("replacement of %s failed: the previous container is back", name)
    except Exception as err:  # the original failure matters more; say what is left to do
        log.error(
            "replacement of %s failed and the previous container (%s) could not be restored: %s",
            name,
            aside.id[:12],
            err,
        )
