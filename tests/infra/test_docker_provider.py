"""Our docker dynamic provider under the real CLI and engine, with a throwaway program."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

from infra.providers.docker import Container, ContainerProvider, Network
from tests.support.docker_objects import docker_objects, purge
from tests.support.ports import free_port
from tests.support.pulumi_stacks import BASE_IMAGE, stack, why_not_runnable

# Unique per run: two runs on one engine must not purge each other's objects.
STACK = f"itest-provider-{uuid.uuid4().hex[:6]}"
LABELS = {"mlops.stack": STACK, "mlops.project": "mlops-platform"}
pytestmark = pytest.mark.integration


def test_container_goes_up_answers_on_loopback_and_goes_away(tmp_path: Path) -> None:
    reason = why_not_runnable()
    if reason:
        pytest.skip(reason)
    port = free_port()

    def program() -> None:
        network = Network("net", name=f"mlops-{STACK}", labels=LABELS)
        web = Container(
            "web",
            name=f"mlops-{STACK}-web",
            image=BASE_IMAGE,
            network=network.name,
            labels=LABELS,
            command=["python3", "-m", "http.server", "8000", "--directory", "/etc"],
            ports=[{"internal": 8000, "external": port, "host_ip": "127.0.0.1"}],
            limits={"cpus": 0.5, "memory_mb": 128},
            user="65534:65534",
            healthcheck={
                "test": ["CMD", "python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/')"],
                "interval_s": 1,
                "timeout_s": 2,
                "retries": 3,
            },
            ready_timeout_s=60,
        )
        pulumi.export("container_id", web.container_id)

    purge(STACK)
    try:
        test_stack = stack(tmp_path, STACK, {}, program)
        result = test_stack.up(on_output=print)
        assert result.summary.result == "succeeded"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/os-release", timeout=5) as response:
            assert b"bookworm" in response.read()
        import docker

        attrs = docker.from_env().containers.get(result.outputs["container_id"].value).attrs
        assert attrs["HostConfig"]["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert attrs["HostConfig"]["ReadonlyRootfs"] is True and attrs["Config"]["User"] == "65534:65534"
        assert attrs["HostConfig"]["NanoCpus"] == 500_000_000 and attrs["HostConfig"]["Memory"] == 128 * 2**20
        assert docker_objects(STACK)["containers"] == [f"mlops-{STACK}-web"]

        test_stack.destroy(on_output=print)
        left = docker_objects(STACK)
        assert left["containers"] == [] and left["networks"] == [], left
    finally:
        purge(STACK)


def test_a_container_that_never_gets_ready_fails_with_its_last_log_lines() -> None:
    reason = why_not_runnable()
    if reason:
        pytest.skip(reason)
    purge(STACK)
    provider = ContainerProvider()
    import docker

    client = docker.from_env()
    client.networks.create(f"mlops-{STACK}", labels=LABELS)
    try:
        with pytest.raises(RuntimeError, match=r"exited with code 3; last log lines:\n.*about to fail"):
            provider.create(
                {
                    "kind": "docker:Container",
                    "name": f"mlops-{STACK}-broken",
                    "image": BASE_IMAGE,
                    "command": ["sh", "-c", "echo about to fail; exit 3"],
                    "network": f"mlops-{STACK}",
                    "labels": LABELS,
                    "limits": {"cpus": 0.5, "memory_mb": 64},
                    "restart": "no",
                    "user": "65534:65534",
                    "read_only": True,
                    "healthcheck": None,
                    "ready_timeout_s": 30,
                }
            )
        assert docker_objects(STACK)["containers"] == []
    finally:
        purge(STACK)


def test_a_rollout_that_never_gets_ready_fails_and_leaves_the_old_replica_serving(tmp_path: Path) -> None:
    reason = why_not_runnable()
    if reason:
        pytest.skip(reason)
    import docker

    client = docker.from_env()
    serve = ["python3", "-m", "http.server", "8000"]
    probe = {
        "test": ["CMD", "python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/')"],
        "interval_s": 1,
        "timeout_s": 2,
        "retries": 3,
    }

    def program_for(revision: str, command: list[str]) -> Callable[[], None]:
        def program() -> None:
            network = Network("net", name=f"mlops-{STACK}", labels=LABELS)
            # Unique names per revision: the new replica starts next to the old one.
            Container(
                "replica",
                name=f"mlops-{STACK}-replica-{revision}",
                image=BASE_IMAGE,
                network=network.name,
                labels=LABELS,
                aliases=[f"mlops-{STACK}-serving"],
                command=command,
                limits={"cpus": 0.5, "memory_mb": 128},
                user="65534:65534",
                healthcheck=probe,
                ready_timeout_s=60,
            )

        return program

    purge(STACK)
    try:
        assert stack(tmp_path, STACK, {}, program_for("v1", serve)).up().summary.result == "succeeded"
        broken = stack(tmp_path, STACK, {}, program_for("v2", ["sh", "-c", "echo model failed to load; exit 1"]))
        with pytest.raises(Exception, match="model failed to load"):
            broken.up()
        ours = client.containers.list(all=True, filters={"label": f"mlops.stack={STACK}"})
        running = {c.name: c.status for c in ours}
        assert running == {f"mlops-{STACK}-replica-v1": "running"}

        fixed = stack(tmp_path, STACK, {}, program_for("v3", serve)).up()
        assert fixed.summary.resource_changes.get("replace") == 1, fixed.summary.resource_changes
        assert docker_objects(STACK)["containers"] == [f"mlops-{STACK}-replica-v3"]
    finally:
        purge(STACK)
