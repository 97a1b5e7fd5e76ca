"""End-to-end fixtures: the real CLI, the real Pulumi toolchain and the real Docker engine.

Each test gets its own Pulumi state backend and data directory, so it never touches a developer's own
`local` environment state (helpers: tests.support.mlops_cli).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.mlops_cli import require_free_stack
from tests.support.paths import REPO


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


@pytest.fixture
def free_stack_ports() -> Callable[[str], None]:
    """Call with a stack name: fails the test when that stack's containers exist or its ports are taken."""
    return require_free_stack
