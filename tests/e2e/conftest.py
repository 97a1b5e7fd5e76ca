"""End-to-end fixtures: the real CLI, the real Pulumi toolchain and the real Docker engine.

Each test gets its own Pulumi state backend and data directory, so it never touches a developer's own
`local` environment state; the stacks' ports are fixed by their stack files, so a running environment
with the same ports makes the test fail with a message saying so.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MLOPS = str(Path(sys.executable).parent / "mlops")


def _ports(stack: str) -> dict[str, int]:
    config = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {
        f"{section}.port": int(config[f"mlops:{section}"]["port"])
        for section in ("registry", "tracking", "serving")
        if "port" in config.get(f"mlops:{section}", {})
    }


def _clear_stale_images(stack: str) -> None:
    """Images labelled for `stack` by an earlier run whose state is gone (a killed test) would count as left
    behind by this run's `down`; they are rebuildable caches, so they go, and the test says so."""
    import docker

    client = docker.from_env()
    labels = {"label": ["mlops.project=mlops-platform", f"mlops.stack={stack}"]}
    if client.containers.list(all=True, filters=labels):
        names = [c.name for c in client.containers.list(all=True, filters=labels)]
        pytest.fail(
            f"containers of stack {stack} already exist ({', '.join(names)}): bring that environment "
            f"down first (`mlops env down {stack} --yes`)"
        )
    for image in client.images.list(filters=labels):
        print(f"removing stale image of stack {stack}: {', '.join(image.tags) or image.short_id}")
        client.images.remove(image.id, force=True)


def _require_free(stack: str) -> None:
    _clear_stale_images(stack)
    for key, port in _ports(stack).items():
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                pytest.fail(
                    f"port {port} (mlops:{key} of stack {stack}) is in use: stop what listens there "
                    f"(e.g. `mlops env down {stack} --yes`) and run the test again"
                )


@pytest.fixture
def e2e_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment variables for `mlops` with an isolated state backend and data dir."""
    if shutil.which("docker") is None:
        pytest.fail("no docker client: run `make setup` (it installs and starts the Docker engine)")
    state = tmp_path / "state"
    state.mkdir()
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{state}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "MLOPS_PROJECT_DIR": str(REPO),
    }
    yield env


def mlops(args: list[str], env: dict[str, str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run the real CLI; its output is kept for the assertion messages."""
    return subprocess.run(
        [MLOPS, *args], env=env, cwd=REPO, text=True, capture_output=True, timeout=timeout, check=False
    )


def tear_down(stack: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`mlops env down --purge`, which also fails when containers, networks or images of ours remain."""
    result = mlops(["env", "down", stack, "--yes", "--purge"], env, timeout=900)
    if result.returncode != 0:
        print(f"teardown of {stack} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture
def free_stack_ports():
    return _require_free
