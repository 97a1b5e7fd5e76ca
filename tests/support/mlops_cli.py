"""The real `mlops` command for end-to-end tests, on stacks of their own.

A test never brings up a stack a user may have (`local`, `local-prod`): it copies the stack file under a
name of its own with free ports and volumes of its own, so `make demo` followed by `make test` works.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from contract import CONFIG_NAMESPACE, LABEL_STACK
from tests.support.paths import BIN, REPO, STACKS
from tests.support.ports import free_ports
from tests.support.pulumi_stacks import project_dir

MLOPS = str(BIN / "mlops")
PROJECT = "mlops-platform"


def own_cli_env(root: Path, passphrase: str) -> dict[str, str]:
    """Environment variables for `mlops` with a Pulumi state backend, data dir and project dir under `root`, so
    nothing it does touches a user's stacks."""
    (root / "state").mkdir()
    return {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "XDG_DATA_HOME": str(root / "data"),
        "MLOPS_PROJECT_DIR": str(root / "project"),
    }


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


E2E_PREFIX = "e2e-"
"""Every stack an end-to-end test makes is named `e2e-<role>-<random>`: never a user's stack name."""


def own_stack(root: Path, base: str, role: str) -> str:
    """A stack of the test's own, copied from `stacks/Pulumi.<base>.yaml` into the project dir under `root`
    (point `MLOPS_PROJECT_DIR` there): a unique name, free loopback ports and a volume named after it, so a
    user's environment made from the same stack file keeps running untouched beside it."""
    name = f"{E2E_PREFIX}{role}-{uuid.uuid4().hex[:6]}"
    document = yaml.safe_load((STACKS / f"Pulumi.{base}.yaml").read_text())
    prefix = f"{CONFIG_NAMESPACE}:"
    config = {key.removeprefix(prefix): value for key, value in document["config"].items() if key.startswith(prefix)}
    ports = iter(free_ports(3))
    for section in ("registry", "tracking", "serving"):
        if "port" in config.get(section, {}):
            config[section]["port"] = next(ports)
    if "volume" in config.get("artifacts", {}):
        config["artifacts"]["volume"] = f"mlops-{name}-artifacts"
    project_dir(root, name, config)
    return name


def clear_stale_e2e_objects() -> None:
    """Containers, networks and images of `e2e-*` stacks that a killed earlier run left behind (their state
    went with its temp dir). Only objects labelled with an e2e stack name are touched, and only of a stack
    with no container or network younger than `STALE_AFTER`, and images only once they were last tagged before
    that: another test session running at the same time (its stack's network is made first, at the start of its
    `up`; a cluster stack's images are tagged as it builds them) keeps everything it has built."""
    import docker

    client = docker.from_env()
    containers = client.containers.list(all=True)
    networks = client.networks.list()

    def stack_of(labels: dict[str, str] | None) -> str:
        name = str((labels or {}).get(LABEL_STACK, ""))
        return name if name.startswith(E2E_PREFIX) else ""

    cutoff = datetime.now(UTC) - STALE_AFTER
    live = {
        stack_of(o.attrs.get("Labels") or o.attrs.get("Config", {}).get("Labels"))
        for o in [*containers, *networks]
        if (_created(o.attrs.get("Created", "")) or cutoff + STALE_AFTER) > cutoff  # unreadable: keep it
    }

    def stale(labels: dict[str, str] | None) -> bool:
        stack = stack_of(labels)
        return bool(stack) and stack not in live

    for container in containers:
        if stale(container.labels):
            print(f"removing container {container.name} that a killed e2e run left")
            container.remove(force=True)
    for network in networks:
        if stale(network.attrs.get("Labels")):
            print(f"removing network {network.name} that a killed e2e run left")
            network.remove()
    for image in client.images.list():
        # A stack on a cluster has no container or network here, only the images it builds and pushes: an image
        # tagged within STALE_AFTER (a build that hit the cache keeps its old creation time, not its tag time)
        # belongs to a run going on now.
        if stale(image.labels) and _tagged_before(image, cutoff):
            print(f"removing image {', '.join(image.tags) or image.short_id} that a killed e2e run left")
            client.images.remove(image.id, force=True)


def _tagged_before(image: Any, cutoff: datetime) -> bool:
    image.reload()  # the listing leaves out the metadata
    when = _created(str((image.attrs.get("Metadata") or {}).get("LastTagTime") or image.attrs.get("Created", "")))
    return when is not None and when < cutoff  # unreadable: keep it


STALE_AFTER = timedelta(hours=2)
"""Longer than any e2e test may run (their timeouts are at most 30 minutes)."""


def _created(text: str) -> datetime | None:
    """The engine's RFC 3339 time with nanoseconds (`2026-12-03T08:31:02.123456789Z`); None if unreadable."""
    try:
        return datetime.fromisoformat(text[:26].rstrip("Z").split("+")[0].rstrip(".") + "+00:00")
    except ValueError:
        return None
