"""A container being replaced is set aside (renamed, stopped) whatever state the engine holds it in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from infra.providers.docker.readiness import set_aside

pytestmark = pytest.mark.integration

BASE_IMAGE = "mlops-base:bookworm-py311"


@pytest.fixture
def engine() -> Iterator[Any]:
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env()
        client.images.get(BASE_IMAGE)
    except Exception as exc:  # no engine or no base image: nothing to set aside
        pytest.skip(f"needs the Docker engine and {BASE_IMAGE}: {exc}")
    yield client


def test_a_crash_looping_container_is_set_aside(engine: Any) -> None:
    """The engine refuses to rename a container its restart policy is restarting ("sandbox not found"):
    that is exactly the container an `up` must replace, so it is stopped first, then renamed."""
    name = f"mlops-aside-test-{uuid.uuid4().hex[:8]}"
    labels = {"mlops.stack": name}
    container = engine.containers.run(
        BASE_IMAGE, ["sh", "-c", "exit 2"], name=name, labels=labels, detach=True, restart_policy={"Name": "always"}
    )
    try:
        deadline = time.monotonic() + 60
        while not container.attrs.get("RestartCount") and time.monotonic() < deadline:
            time.sleep(0.2)
            container.reload()
        assert container.attrs.get("RestartCount"), "the container never crash-looped"
        aside = set_aside(engine, name, labels)
        assert aside is not None
        aside.reload()
        assert aside.name == f"{name}-aside-{container.id[:12]}"
        assert not aside.attrs["State"]["Running"]
        assert name not in {c.name for c in engine.containers.list(all=True)}
    finally:
        engine.containers.get(container.id).remove(force=True)


def test_a_container_of_this_stack_created_without_a_newer_label_is_still_set_aside(engine: Any) -> None:
    """A release that adds a label (`mlops.role`) must still replace the containers an earlier release
    created; another stack's container, or one without our labels, is still refused."""
    name = f"mlops-aside-test-{uuid.uuid4().hex[:8]}"
    old_labels = {"mlops.stack": name, "mlops.project": "mlops-platform"}
    container = engine.containers.run(BASE_IMAGE, ["sleep", "60"], name=name, labels=old_labels, detach=True)
    try:
        with pytest.raises(RuntimeError, match="is not this stack's"):
            set_aside(engine, name, {"mlops.stack": "another", "mlops.project": "mlops-platform"})
        with pytest.raises(RuntimeError, match="is not this stack's"):
            set_aside(engine, name, {"mlops.role": "tracking"})
        aside = set_aside(engine, name, {**old_labels, "mlops.role": "tracking"})
        assert aside is not None
        aside.reload()
        assert aside.name == f"{name}-aside-{container.id[:12]}"
    finally:
        engine.containers.get(container.id).remove(force=True)
