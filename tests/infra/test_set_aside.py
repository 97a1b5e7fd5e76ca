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
