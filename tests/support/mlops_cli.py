"""The real `mlops` command for end-to-end tests, and the checks that a stack's fixed ports are ours to use.

The stacks' ports are fixed by their stack files, so a running environment with the same ports makes a
test fail with a message saying what to stop, instead of a confusing failure halfway through `up`.
"""

from __future__ import annotations

import socket
import subprocess

import pytest
import yaml

from contract import CONFIG_NAMESPACE, label_filters
from tests.support.paths import BIN, REPO, STACKS

MLOPS = str(BIN / "mlops")
PROJECT = "mlops-platform"


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


def stack_ports(stack: str) -> dict[str, int]:
    """`<section>.port` -> port of the stack file's registry, tracking and serving sections."""
    config = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {
        f"{section}.port": int(config[f"{CONFIG_NAMESPACE}:{section}"]["port"])
        for section in ("registry", "tracking", "serving")
        if "port" in config.get(f"{CONFIG_NAMESPACE}:{section}", {})
    }


def clear_stale_images(stack: str) -> None:
    """Images labelled for `stack` by an earlier run whose state is gone (a killed test) would count as left
    behind by this run's `down`; they are rebuildable caches, so they go, and the test says so."""
    import docker

    client = docker.from_env()
    filters = label_filters(stack, PROJECT)
    names = [c.name for c in client.containers.list(all=True, filters=filters)]
    if names:
        pytest.fail(
            f"containers of stack {stack} already exist ({', '.join(names)}): bring that environment "
            f"down first (`mlops env down {stack} --yes`)"
        )
    for image in client.images.list(filters=filters):
        print(f"removing stale image of stack {stack}: {', '.join(image.tags) or image.short_id}")
        client.images.remove(image.id, force=True)


def require_free_stack(stack: str) -> None:
    """Fail the test, naming what to stop, when `stack`'s containers exist or its ports are taken."""
    clear_stale_images(stack)
    for key, port in stack_ports(stack).items():
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                pytest.fail(
                    f"port {port} (mlops:{key} of stack {stack}) is in use: stop what listens there "
                    f"(e.g. `mlops env down {stack} --yes`) and run the test again"
                )
