"""The e2e suites' clean-up of what a killed run left: it removes an old e2e stack's objects and leaves alone
those of a run going on at the same time, a cluster stack's images included (real Docker engine)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contract import LABEL_STACK
from tests.support import mlops_cli

pytestmark = pytest.mark.integration


def test_a_live_runs_objects_stay_and_an_old_runs_go(monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    client = docker.from_env()
    live = client.networks.create(f"e2e-live-{uuid.uuid4().hex[:6]}", labels={LABEL_STACK: "e2e-live-x"})
    old = client.networks.create(f"e2e-old-{uuid.uuid4().hex[:6]}", labels={LABEL_STACK: "e2e-old-x"})
    real_created = mlops_cli._created

    def created(text: str) -> datetime | None:  # the old run's network as if made three hours ago
        when = real_created(text)
        return when - timedelta(hours=3) if when is not None and text == old.attrs["Created"] else when

    monkeypatch.setattr(mlops_cli, "_created", created)
    try:
        mlops_cli.clear_stale_e2e_objects()
        names = {n.name for n in client.networks.list()}
        assert live.name in names
        assert old.name not in names
    finally:
        for network in (live, old):
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()


def test_engine_times_are_read_with_their_nanoseconds_or_not_at_all() -> None:
    assert mlops_cli._created("2026-12-03T08:31:02.123456789Z") == datetime(2026, 12, 3, 8, 31, 2, 123456, UTC)
    assert mlops_cli._created("2026-12-03T08:31:02Z") == datetime(2026, 12, 3, 8, 31, 2, tzinfo=UTC)
    assert mlops_cli._created("not a time") is None  # an object of unknown age is kept


def test_a_cluster_runs_images_stay_while_it_runs_and_go_once_old(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack on a cluster has images here and nothing else: their tag time says whether its run goes on."""
    import io

    import docker

    client = docker.from_env()
    suffix = uuid.uuid4().hex[:6]
    refs = {}
    for run in ("live", "old"):
        dockerfile = f"FROM scratch\nLABEL {LABEL_STACK}=e2e-{run}-{suffix}\n".encode()
        image, _ = client.images.build(fileobj=io.BytesIO(dockerfile), tag=f"e2e-{run}-{suffix}/deps:test", rm=True)
        refs[run] = image.id
    real_created = mlops_cli._created
    # Read before the clean-up: once the old image is gone, it has no tag time to ask for.
    old = client.images.get(refs["old"]).attrs["Metadata"]["LastTagTime"]

    def created(text: str) -> datetime | None:  # the old run's image as if last tagged three hours ago
        when = real_created(text)
        return when - timedelta(hours=3) if when is not None and text == old else when

    monkeypatch.setattr(mlops_cli, "_created", created)
    try:
        mlops_cli.clear_stale_e2e_objects()
        present = {i.id for i in client.images.list()}
        assert refs["live"] in present
        assert refs["old"] not in present
    finally:
        for ref in refs.values():
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(ref, force=True)
