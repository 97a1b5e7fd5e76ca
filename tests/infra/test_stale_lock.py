"""A lock left in the file backend by a killed `pulumi up` (SIGKILL cannot remove it) is removed by the next
`mlops env` run on this machine; a lock of a live run is named, not broken. Real Pulumi CLI, empty program."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops import stacks as environments
from mlops.stacks import EnvironmentUnavailable, select_stack
from tests.support.paths import VENV

pytestmark = pytest.mark.integration
PROJECT = "lockproj"
STACK = "locked"


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if not (VENV / "bin" / "pulumi").exists():
        pytest.skip(f"{VENV / 'bin' / 'pulumi'} is missing: run `make setup` (scripts/bootstrap.py)")
    work, state = tmp_path / "project", tmp_path / "state"
    work.mkdir()
    state.mkdir()
    (work / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
    (work / "__main__.py").write_text("")
    (work / f"Pulumi.{STACK}.yaml").write_text("config: {}\n")
    monkeypatch.setenv("MLOPS_PROJECT_DIR", str(work))
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{state}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "lock-test")
    environments.project.cache_clear()
    select_stack(STACK, create=True, deploying=False)
    yield state
    environments.project.cache_clear()


def lock(state: Path, pid: int) -> Path:
    directory = state / ".pulumi" / "locks" / "organization" / PROJECT / STACK
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4()}.json"
    holder = {"pid": pid, "username": "test", "hostname": socket.gethostname(), "timestamp": "2026-01-01T00:00:00Z"}
    path.write_text(json.dumps(holder))
    return path


def test_the_lock_of_a_killed_run_is_removed(backend: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = lock(backend, dead.pid)
    select_stack(STACK, create=False)
    assert not path.exists()


def test_the_lock_of_a_zombie_is_stale(backend: Path) -> None:
    """A killed CLI whose parent died too is a zombie until an init reaps it (here: until we wait)."""
    zombie = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        path = lock(backend, zombie.pid)
        select_stack(STACK, create=False)
        assert not path.exists()
    finally:
        zombie.wait()


def test_the_lock_of_a_live_run_is_named_and_kept(backend: Path) -> None:
    path = lock(backend, os.getpid())
    with pytest.raises(EnvironmentUnavailable, match=rf"locked by another Pulumi run \(pid {os.getpid()} on "):
        select_stack(STACK, create=False)
    assert path.exists()
