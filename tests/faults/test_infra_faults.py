"""Faults of the docker target, for real: a stack of its own (`ifault-<random>`, free loopback ports, its own state,
data dir and volumes), driven through `mlops env up` as a user would, while a client thread sends
predictions to the serving endpoint and counts failures.

One stack serves every case, in order (each case leaves it converged for the next): the module fixture
brings it up, trains and registers a model, gives it the alias and rolls serving out; every case asserts
that the registered model is still there and that serving answers afterwards.

Not here, and why:
- restarting dockerd: the machine's engine is shared by everyone on it (the user's `local` stack, other test
  runs, the toolchain's builds). That case runs on an engine of its own, in test_dockerd_restart.py.
- a rotated Postgres password on this stack: it runs SQLite (a Postgres backend doubles the build). That
  case runs the Postgres container on its own, through the same provider and image.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract import CONFIG_NAMESPACE
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
from tests.support.paths import BIN
from tests.support.ports import free_ports
from tests.support.pulumi_stacks import environment, project_dir, why_not_runnable

# Unique per run: two runs of this suite on one engine (two sessions, CI beside a developer) must not
# purge each other's stack.
STACK = f"ifault-{uuid.uuid4().hex[:6]}"
MODEL = f"{STACK}-model"
PREFIX = f"mlops-{STACK}"
pytestmark = pytest.mark.integration

MAX_FAILURES_IN_PLACE = 0
"""An in-place update of limits restarts nothing: not one request may fail."""


@dataclass
class Faulted:
    root: Path
    work: Path
    env: dict[str, str]
    config: dict[str, Any]
    ports: dict[str, int]
    client: Client | None = None

    def mlops(self, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "mlops"), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def up(self) -> str:
        done = self.mlops("env", "up", STACK, "--yes")
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        return output

    def outputs(self) -> dict[str, Any]:
        done = self.mlops("env", "outputs", STACK, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def write_config(self) -> None:
        path = self.work / "stacks" / f"Pulumi.{STACK}.yaml"
        document = yaml.safe_load(path.read_text()) or {}
        document.setdefault("config", {}).update({f"{CONFIG_NAMESPACE}:{k}": v for k, v in self.config.items()})
        path.write_text(yaml.safe_dump(document))

    @property
    def tracking(self) -> str:
        return f"http://127.0.0.1:{self.ports['tracking']}"


def docker_client() -> Any:
    import docker

    return docker.from_env()


def container_ids(role_prefix: str = PREFIX) -> dict[str, str]:
    return {
        c.name: c.id
        for c in docker_client().containers.list(all=True, filters={"label": f"mlops.stack={STACK}"})
        if c.name.startswith(role_prefix)
    }


def processes_of(project: Path) -> list[int]:
    """Processes started for this stack's project (by its MLOPS_PROJECT_DIR in their environment)."""
    marker = f"MLOPS_PROJECT_DIR={project}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def running(name: str) -> bool:
    try:
        return bool(docker_client().containers.get(name).attrs["State"]["Running"])
    except Exception:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulted]:
    reason = why_not_runnable()
    if reason:
        pytest.skip(reason)
    registry, tracking, serving = free_ports(3)
    config = fault_stack_config(STACK, MODEL, registry, tracking, serving)
    config["training"] = {"cpus": 1.0, "memoryMb": 2048}
    purge(STACK)
    root = tmp_path_factory.mktemp("faults")
    work = snapshot(project_dir(root, STACK, config))
    env = {**os.environ, **environment(root), "MLOPS_PROJECT_DIR": str(work), "PYTHONPATH": str(work)}
    faulted = Faulted(root, work, env, config, {"registry": registry, "tracking": tracking, "serving": serving})
    try:
        faulted.up()  # first deployment: registry, images, tracking server; nothing to serve yet
        assert faulted.outputs()["serving_endpoint"] == ""
        train_and_alias(faulted.tracking, MODEL)
        faulted.up()  # the alias resolves: serving rolls out
        endpoint = faulted.outputs()["serving_endpoint"]
        faulted.client = Client(endpoint, example_rows())
        assert faulted.client.answers(), "serving never answered after the rollout"
        yield faulted
    finally:
        faulted.mlops("env", "down", STACK, "--yes", "--purge", timeout=900)
        purge(STACK)


def nothing_lost(stack: Faulted) -> None:
    wait_healthy(f"{stack.tracking}/health")
    assert registered_version(stack.tracking, MODEL) == "1"
    assert stack.client is not None and stack.client.answers(), "serving did not come back"


def test_a_stopped_tracking_server_leaves_serving_untouched(stack: Faulted) -> None:
    assert stack.client is not None
    serving_before = container_ids(f"{PREFIX}-serving-") | container_ids(f"{PREFIX}-balancer")
    docker_client().containers.get(f"{PREFIX}-tracking").stop(timeout=10)
    stack.client.start()
    output = stack.up()
    client = stack.client.stop()
    print(f"tracking stopped during up: {len(client.failures)} failed of {client.sent}")
    assert "keeping the version deployed now, models:/" in output
    assert container_ids(f"{PREFIX}-serving-") | container_ids(f"{PREFIX}-balancer") == serving_before
    assert client.failures == [], client.failures[:5]
    assert running(f"{PREFIX}-tracking"), "the stopped tracking server was not brought back by up"
    nothing_lost(stack)


@pytest.mark.parametrize("component", ["tracking", "registry", "balancer", "serving-replica"])
def test_a_removed_component_container_is_recreated_by_up(stack: Faulted, component: str) -> None:
    assert stack.client is not None
    names = sorted(container_ids(f"{PREFIX}-{component.replace('-replica', '-0')}"))
    assert names, f"no {component} container to remove"
    name = names[0]
    docker_client().containers.get(name).remove(force=True)
    stack.client.start()
    started = time.monotonic()
    stack.up()
    client = stack.client.stop()
    print(f"{name} removed, then up: {len(client.failures)} failed of {client.sent}")
    for at, failure in client.failures[:1] + client.failures[-1:]:
        print(f"  {at - started:6.1f} s into up: {failure[:160]}")
    assert running(name), f"{name} was not recreated"
    if component != "balancer":  # the balancer is the endpoint: nothing answers until up recreates it
        # A new replica is in DNS while it still loads its model: the balancer must send its requests on.
        assert client.failures == [], client.failures[:3]
    nothing_lost(stack)


def wait_container_healthy(name: str, within_s: float = 120) -> None:
    """Until the engine reports `name` running and its health check passing (no `up` involved)."""
    deadline = time.monotonic() + within_s
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = docker_client().containers.get(name).attrs["State"]
        if state.get("Running") and state.get("Health", {}).get("Status") == "healthy":
            return
        time.sleep(1)
    log = docker_client().containers.get(name).logs(tail=5).decode(errors="replace")
    raise AssertionError(f"{name} not healthy {within_s} s after its restart: {state.get('Status')}; log: {log}")


@pytest.mark.parametrize("component", ["tracking", "registry", "balancer", "serving-replica"])
def test_a_restarted_component_container_comes_back_by_itself(stack: Faulted, component: str) -> None:
    """What a restart policy does after a crash or a dockerd restart: the same container started a second
    time, on its own (a tmpfs mounted again, the secrets already in place), with no `up` to help."""
    assert stack.client is not None
    name = sorted(container_ids(f"{PREFIX}-{component.replace('-replica', '-0')}"))[0]
    stack.client.start()
    docker_client().containers.get(name).restart(timeout=10)
    wait_container_healthy(name)
    client = stack.client.stop()
    print(f"{name} restarted: {len(client.failures)} failed of {client.sent}")
    nothing_lost(stack)


def test_an_up_killed_mid_create_is_finished_by_the_next_up(stack: Faulted) -> None:
    assert stack.client is not None
    docker_client().containers.get(f"{PREFIX}-balancer").remove(force=True)
    process = subprocess.Popen(
        [str(BIN / "mlops"), "env", "up", STACK, "--yes"],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 600
    for line in process.stdout:
        if ("creating" in line and "balancer" in line) or time.monotonic() > deadline:
            break
    time.sleep(1)  # mid-create: the container exists and is waiting for its health check
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    # The CLI starts its plugins (the dynamic provider host) in process groups of their own: a SIGKILL of
    # the `up` leaves them orphaned, as the user's kill would. They hold nothing the next `up` needs.
    for pid in processes_of(stack.work):
        os.kill(pid, signal.SIGKILL)
    stack.client.start()
    output = stack.up()
    client = stack.client.stop()
    print(f"up killed mid-create, then up: {len(client.failures)} failed of {client.sent}")
    # Docker's answer to a second create of the same name: "409 Client Error ... Conflict ... already in use".
    # Image tags and digests in the output are hex, so the status is matched as a number of its own.
    assert not re.search(r"\b409\b|Conflict|already in use", output), output
    assert running(f"{PREFIX}-balancer")
    nothing_lost(stack)


def test_changing_cpus_updates_serving_in_place(stack: Faulted) -> None:
    assert stack.client is not None
    before = container_ids(f"{PREFIX}-serving-")
    stack.config["serving"] = {**stack.config["serving"], "cpus": 0.75}
    stack.write_config()
    stack.client.start()
    stack.up()
    client = stack.client.stop()
    print(f"serving cpus changed: {len(client.failures)} failed of {client.sent} (bound {MAX_FAILURES_IN_PLACE})")
    assert container_ids(f"{PREFIX}-serving-") == before, "the replicas were replaced, not updated in place"
    for container_id in before.values():
        assert docker_client().containers.get(container_id).attrs["HostConfig"]["NanoCpus"] == 750_000_000
    assert len(client.failures) <= MAX_FAILURES_IN_PLACE, client.failures[:5]
    nothing_lost(stack)


def _accepts(container: Any, password: str) -> bool:
    """Whether Postgres in `container` lets `mlflow` in with `password` over TCP (scram, as the tracking
    server connects), the password URL-quoted into the URI as the tracking image's wrapper does."""
    from urllib.parse import quote

    uri = f"postgresql://mlflow:{quote(password, safe='')}@127.0.0.1:5432/mlflow"
    done = container.exec_run(["/usr/lib/postgresql/15/bin/psql", uri, "-tAc", "select 1"])
    return bool(done.exit_code == 0)


def test_a_rotated_postgres_password_takes_effect_with_the_new_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Postgres container as the docker target runs it (the provider, its image, the password as a
    0400 file), then the password rotated: the replacement container (what `up` does when the secret file
    changes) sets the role's password from its file on start; the data survives, the old password is refused."""
    from infra import images
    from infra.components.docker.tracking import POSTGRES_PASSWORD_FILE
    from infra.providers.docker import ContainerProvider, ImageProvider
    from tests.support.pulumi_stacks import BASE_IMAGE

    reason = why_not_runnable()
    if reason:
        pytest.skip(reason)
    stack = f"{STACK}-pg"
    labels = {"mlops.stack": stack, "mlops.project": "mlops-platform"}
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    spec = images.specs(BASE_IMAGE, postgres=True)["postgres"]
    client = docker_client()
    purge(stack)
    try:
        image = (
            ImageProvider()
            .create(
                {
                    "repository": f"mlops-{stack}/postgres",
                    "tag": spec.tag,
                    "dockerfile": str(spec.dockerfile),
                    "context": str(spec.root),
                    "files": list(spec.files),
                    "build_args": dict(spec.build_args),
                    "labels": labels,
                    "push": False,
                }
            )
            .id
        )
        client.networks.create(f"mlops-{stack}", labels=labels)
        client.volumes.create(f"mlops-{stack}-postgres-data", labels=labels)

        def postgres(password: str) -> Any:
            props = {
                "name": f"mlops-{stack}-postgres",
                "image": image,
                "network": f"mlops-{stack}",
                "labels": labels,
                "secret_files": {POSTGRES_PASSWORD_FILE: password},
                "mounts": [
                    {"type": "volume", "source": f"mlops-{stack}-postgres-data", "target": "/var/lib/postgresql/data"},
                    {"type": "tmpfs", "source": "", "target": "/tmp"},
                ],
                "limits": {"cpus": 1.0, "memory_mb": 512},
                "user": "postgres",
                "read_only": True,
                "restart": "unless-stopped",
                "healthcheck": {
                    "test": ["CMD", "/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1"],
                    "interval_s": 1,
                    "timeout_s": 3,
                    "retries": 5,
                    "start_period_s": 0,
                },
                "ready_timeout_s": 180,
            }
            return client.containers.get(ContainerProvider().create(props).id)

        first, rotated = "first p@ss/word", "rotated:p@ss'word%"
        container = postgres(first)
        assert "POSTGRES_PASSWORD" not in json.dumps(container.attrs["Config"]["Env"])
        assert _accepts(container, first)
        container.exec_run(
            ["/usr/lib/postgresql/15/bin/psql", "-h", "/tmp", "-U", "mlflow", "-c", "create table kept()"]
        )
        container = postgres(rotated)
        assert _accepts(container, rotated), container.logs(tail=30).decode(errors="replace")
        assert not _accepts(container, first), "the old password still works after the rotation"
        kept = container.exec_run(
            ["/usr/lib/postgresql/15/bin/psql", "-h", "/tmp", "-U", "mlflow", "-tAc", "select count(*) from kept"]
        )
        assert kept.exit_code == 0, "the data did not survive the rotation"
        print("postgres password rotated: the new one is accepted, the old one refused, the data kept")
    finally:
        purge(stack)
