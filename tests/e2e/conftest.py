"""End-to-end fixtures: the real CLI, the real Pulumi toolchain and the real Docker engine.

Each test gets its own Pulumi state backend, data directory and project directory holding stacks of its
own (`own_stack`), so it never touches a developer's environments (helpers: tests.support.mlops_cli).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster_steps import Steps
from tests.support.local_cluster import own_cluster, skip_reason
from tests.support.mlops_cli import clear_stale_e2e_objects, own_cli_env, own_stack


@pytest.fixture
def e2e_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment variables for `mlops` with an isolated state backend, data dir and project dir."""
    if shutil.which("docker") is None:
        pytest.fail("no docker client: run `make setup` (it installs and starts the Docker engine)")
    clear_stale_e2e_objects()
    yield own_cli_env(tmp_path, "e2e-test-stacks")


@pytest.fixture
def new_stack(tmp_path: Path, e2e_env: dict[str, str]) -> Callable[[str, str], str]:
    """Call with (base stack, role): a stack of this test's own copied from `stacks/Pulumi.<base>.yaml`."""
    return lambda base, role: own_stack(tmp_path, base, role)


STEP_TABLES = pytest.StashKey[list[tuple[str, str]]]()


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> Iterator[Steps]:
    """Each step's duration, printed at the end of the test and again in the run's summary (passed or not)."""
    timed = Steps()
    yield timed
    print("\nstep durations:\n" + timed.table())
    request.config.stash.setdefault(STEP_TABLES, []).append((request.node.nodeid, timed.table()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for nodeid, table in config.stash.get(STEP_TABLES, []):
        terminalreporter.write_sep("-", f"step durations: {nodeid}")
        terminalreporter.write_line(table)


@pytest.fixture
def cluster(steps: Steps):  # type: ignore[no-untyped-def]
    """A local cluster of the test's own (skipped, saying why, where none can run), purged at the end."""
    reason = skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    lifecycle: list[str] = []
    started = time.monotonic()
    try:
        with own_cluster(f"mlops-e2e-{os.getpid()}", lifecycle) as made:
            steps.seconds["cluster up"] = time.monotonic() - started
            yield made
            started = time.monotonic()
    finally:
        steps.seconds["cluster down --purge"] = time.monotonic() - started
        print("\ncluster lifecycle:\n" + "\n".join(lifecycle))
