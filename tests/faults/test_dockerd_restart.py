"""dockerd restarted under a running stack, for real, on an engine of the test's own.

The machine's engine is shared (the user's `local` stack, other test runs, the toolchain's builds), so this
case starts a second dockerd (tests/support/own_dockerd.py: its own data root, exec root, socket and
address pool, no iptables rules of its own) and brings a stack of its own up on it with `mlops env up`,
DOCKER_HOST pointing at that socket, as a user with a remote or rootless engine would. The images come
from the main engine (built there from the BuildKit cache, then `docker save | docker load`): the own
engine has no NAT, so it could not download packages to build them. With a model registered and served
and a client sending a prediction every 0.2 s, the engine is stopped (SIGTERM: it stops every container)
and started again with the same flags: each container must come back healthy through its restart policy,
the model still registered, serving answering again, all without an `up`. The engine and its data root
are removed at the end whatever happened.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from contract import LABEL_STACK, stack_labels
from infra import images
from tests.mlops.jobs.images import build
from tests.support.docker_objects import purge
from tests.support.fault_stack import (
    Client,
    example_rows,
    fault_stack_config,
    registered_version,
    snapshot,
    train_and_alias,
    wait_healthy,
)
from tests.support.own_dockerd import OwnEngine, own_engine, why_not_available
from tests.support.paths import BIN
from tests.support.ports import free_ports
from tests.support.pulumi_stacks import BASE_IMAGE, environment, project_dir, why_not_runnable

STACK = f"ifdr-{uuid.uuid4().hex[:6]}"
MODEL = f"{STACK}-model"
PREFIX = f"mlops-{STACK}"
LOCAL_ROLES = ("deps", "registry")
"""Images the stack keeps on the engine; every other role is pushed to the stack's registry."""
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def image_refs(work: Path, registry: int) -> dict[str, tuple[images.ImageSpec, str]]:
    """role -> (spec, the reference `mlops env up` looks for), tags hashed from the deployed snapshot."""
    refs = {}
    for role, spec in images.stack_specs(PREFIX, BASE_IMAGE, root=work).items():
        repository = f"{PREFIX}/{role}" if role in LOCAL_ROLES else f"127.0.0.1:{registry}/mlops/{role}"
        refs[role] = (spec, f"{repository}:{spec.tag}")
    return refs


def mlops(env: dict[str, str], *args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "mlops"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def up(env: dict[str, str]) -> dict[str, Any]:
    done = mlops(env, "env", "up", STACK, "--yes")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    outputs = mlops(env, "env", "outputs", STACK, "--json")
    assert outputs.returncode == 0, outputs.stderr
    return dict(json.loads(outputs.stdout))


def healthy_again(engine: OwnEngine, names: list[str], within_s: float = 300) -> dict[str, str]:
    """Wait until every container runs and passes its health check; their states if some never do."""
    client = engine.client()
    deadline = time.monotonic() + within_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {}
        for name in names:
            state = client.containers.get(name).attrs["State"]
            health = state.get("Health", {}).get("Status", "healthy")
            states[name] = "healthy" if state.get("Running") and health == "healthy" else f"{state['Status']}/{health}"
        if all(s == "healthy" for s in states.values()):
            return {}
        time.sleep(1)
    return {name: state for name, state in states.items() if state != "healthy"}


def started_at(engine: OwnEngine, name: str) -> tuple[str, str]:
    """(container ID, when its process last started): the engine's ISO timestamps sort as times."""
    container = engine.client().containers.get(name)
    return container.id, container.attrs["State"]["StartedAt"]


def test_a_dockerd_restart_is_survived_through_restart_policies(tmp_path: Path) -> None:
    for reason in (why_not_runnable(), why_not_available()):
        if reason:
            pytest.skip(reason)
    registry, tracking, serving = free_ports(3)
    work = snapshot(project_dir(tmp_path, STACK, fault_stack_config(STACK, MODEL, registry, tracking, serving)))
    times: dict[str, float] = {}
    purge(STACK)
    try:
        with own_engine() as engine:
            env = {
                **os.environ,
                **environment(tmp_path),
                "MLOPS_PROJECT_DIR": str(work),
                "PYTHONPATH": str(work),
                "DOCKER_HOST": engine.host,
            }
            try:
                started = time.monotonic()
                refs = image_refs(work, registry)
                for _role, (spec, ref) in refs.items():  # deps first: the workload images build FROM it
                    build(spec, ref, label=STACK)
                times["images built on the main engine"] = time.monotonic() - started
                times["images copied into the own engine"] = engine.load_images([ref for _, ref in refs.values()])

                # The stack's network, made here with a subnet of the engine's pool; `up` adopts it.
                engine.create_network(PREFIX, stack_labels("mlops-platform", STACK))
                started = time.monotonic()
                assert up(env)["serving_endpoint"] == ""
                times["first up"] = time.monotonic() - started
                train_and_alias(f"http://127.0.0.1:{tracking}", MODEL)
                started = time.monotonic()
                endpoint = up(env)["serving_endpoint"]
                times["second up (serving)"] = time.monotonic() - started
                client = Client(endpoint, example_rows())
                assert client.answers(), "serving never answered after the rollout"
                names = sorted(
                    c.name for c in engine.client().containers.list(filters={"label": f"{LABEL_STACK}={STACK}"})
                )
                assert len(names) == 5, names  # registry, tracking, two replicas, balancer

                before = {name: started_at(engine, name) for name in names}
                client.start()
                restarted = time.monotonic()
                times["dockerd stop (SIGTERM)"] = engine.stop()
                times["dockerd start"] = engine.start()
                assert healthy_again(engine, names) == {}
                times["restart until every container is healthy"] = time.monotonic() - restarted
                assert client.answers(within_s=120), "serving did not come back after the restart"
                times["restart until serving answers"] = time.monotonic() - restarted
                client.stop()
                wait_healthy(f"http://127.0.0.1:{tracking}/health", within_s=120)
                assert registered_version(f"http://127.0.0.1:{tracking}", MODEL) == "1"
                after = {name: started_at(engine, name) for name in names}
                # The same containers (no `up` recreated anything), each started again by its restart policy.
                assert after.keys() == before.keys()
                assert all(after[name][0] == before[name][0] and after[name][1] > before[name][1] for name in names)
            except BaseException:
                print(f"dockerd {engine.name} log:\n{engine.log_tail(40)}")
                raise
    finally:
        purge(STACK)
    print(f"dockerd restarted: {len(client.failures)} failed of {client.sent}")
    if client.failures:
        first, last = client.failures[0][0] - restarted, client.failures[-1][0] - restarted
        print(f"  failures from {first:.0f} s to {last:.0f} s after the SIGTERM: {client.failures[-1][1][:120]}")
    for step, seconds in times.items():
        print(f"  {step}: {seconds:.0f} s")
