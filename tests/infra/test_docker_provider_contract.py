"""The docker dynamic providers honour Pulumi's contract, against the real engine (no Pulumi CLI needed):
`read` reports a removed object as gone, `create` copes with a same-named leftover (ours: replaced; not
ours: refused), a fixed-name replacement that never gets ready leaves the old container as it was, and
limits and restart policy update in place (NanoCpus, as created)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from infra.providers.docker import ContainerProvider, ImageProvider, NetworkProvider, VolumeProvider
from tests.support.docker_objects import purge
from tests.support.ports import free_port
from tests.support.pulumi_stacks import BASE_IMAGE

# Unique per run: two runs on one engine must not purge each other's objects.
STACK = f"itest-contract-{uuid.uuid4().hex[:6]}"
LABELS = {"mlops.stack": STACK, "mlops.project": "mlops-platform"}
NETWORK = f"mlops-{STACK}"
pytestmark = pytest.mark.integration

PROBE = {
    "test": ["CMD", "python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/')"],
    "interval_s": 1,
    "timeout_s": 2,
    "retries": 3,
    "start_period_s": 0,
}


def engine() -> Any:
    import docker

    try:
        client = docker.from_env()
        client.ping()
        client.images.get(BASE_IMAGE)
    except Exception as err:  # no engine or no base image: say why
        pytest.skip(f"needs a Docker engine with {BASE_IMAGE}: {err}")
    return client


@pytest.fixture
def client(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # secret files go under a data dir of the test's own
    docker_client = engine()
    purge(STACK)
    docker_client.networks.create(NETWORK, labels=LABELS)
    try:
        yield docker_client
    finally:
        purge(STACK)


def web(name: str = "web", port: int | None = None, command: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "docker:Container",
        "name": f"mlops-{STACK}-{name}",
        "image": BASE_IMAGE,
        "command": command or ["python3", "-m", "http.server", "8000", "--directory", "/etc"],
        "network": NETWORK,
        "labels": LABELS,
        "ports": [] if port is None else [{"internal": 8000, "external": port, "host_ip": "127.0.0.1"}],
        "limits": {"cpus": 0.5, "memory_mb": 128},
        "restart": "unless-stopped",
        "user": "65534:65534",
        "read_only": True,
        "healthcheck": PROBE,
        "ready_timeout_s": 60,
        **extra,
    }


def test_read_reports_a_removed_container_network_volume_and_image_as_gone(client: Any) -> None:
    provider = ContainerProvider()
    created = provider.create(web())
    assert provider.read(created.id, created.outs).id == created.id
    client.containers.get(created.id).stop(timeout=5)
    assert not provider.read(created.id, created.outs).id, "a stopped container must be replaced by the next up"
    client.containers.get(created.id).remove(force=True)
    gone = provider.read(created.id, created.outs)
    assert not gone.id and gone.outs == {}

    volume = VolumeProvider().create({"kind": "docker:Volume", "name": f"mlops-{STACK}-v", "labels": LABELS})
    client.volumes.get(volume.id).remove()
    assert not VolumeProvider().read(volume.id, volume.outs).id

    network = NetworkProvider().create({"kind": "docker:Network", "name": f"mlops-{STACK}-n", "labels": LABELS})
    client.networks.get(network.id).remove()
    assert not NetworkProvider().read(network.id, network.outs).id

    assert not ImageProvider().read(f"mlops-{STACK}/nothing:0000", {"kind": "docker:Image"}).id


def test_create_replaces_a_leftover_of_this_stack_instead_of_a_409(client: Any) -> None:
    port = free_port()
    leftover = ContainerProvider().create(web(port=port))
    again = ContainerProvider().create(web(port=port))
    assert again.id != leftover.id
    names = [c.name for c in client.containers.list(all=True, filters={"label": f"mlops.stack={STACK}"})]
    assert names == [f"mlops-{STACK}-web"]
    # Pulumi deleting the replaced one (create-before-delete) finds it already gone: no error.
    ContainerProvider().delete(leftover.id, leftover.outs)


def test_create_refuses_a_same_named_container_that_is_not_ours(client: Any) -> None:
    foreign = client.containers.create(BASE_IMAGE, ["sleep", "60"], name=f"mlops-{STACK}-web", labels={"x": "y"})
    try:
        with pytest.raises(RuntimeError, match="is not this stack's"):
            ContainerProvider().create(web())
        assert client.containers.get(foreign.id).name == f"mlops-{STACK}-web"
    finally:
        foreign.remove(force=True)


def test_a_fixed_name_replacement_that_never_gets_ready_brings_the_old_one_back(client: Any) -> None:
    import urllib.request

    port = free_port()
    old = ContainerProvider().create(web(port=port))
    broken = web(port=port, command=["sh", "-c", "echo cannot start; exit 2"])
    with pytest.raises(RuntimeError, match="cannot start"):
        ContainerProvider().create(broken)
    container = client.containers.get(f"mlops-{STACK}-web")
    assert container.id == old.id and container.status == "running"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/os-release", timeout=10) as response:
        assert response.status == 200


def test_limits_and_restart_policy_update_in_place(client: Any) -> None:
    provider = ContainerProvider()
    props = web()
    created = provider.create(props)
    news = {**props, "limits": {"cpus": 1.5, "memory_mb": 256}, "restart": "always"}
    change = provider.diff(created.id, created.outs, news)
    assert change.changes and change.replaces == []
    provider.update(created.id, created.outs, news)
    host = client.containers.get(created.id).attrs["HostConfig"]
    assert host["NanoCpus"] == 1_500_000_000 and host["Memory"] == 256 * 2**20
    assert host["RestartPolicy"]["Name"] == "always"
    assert client.containers.get(created.id).status == "running"


def test_diff_replaces_only_what_cannot_change_in_place() -> None:
    props = web()
    assert ContainerProvider().diff("x", props, {**props, "image": "other:1"}).replaces == ["image"]
    assert ContainerProvider().diff("x", props, dict(props)).changes is False


def test_secret_files_are_0400_files_of_the_containers_user_never_environment(client: Any) -> None:
    props = web(secret_files={"token": "s3cr3t-value"}, user="65534:65534")
    created = ContainerProvider().create(props)
    container = client.containers.get(created.id)
    assert not [e for e in container.attrs["Config"]["Env"] or [] if "s3cr3t" in e]
    assert "s3cr3t" not in json.dumps(container.attrs["Config"]["Cmd"])
    code, out = container.exec_run(
        ["sh", "-c", "stat -c '%a %u' /run/mlops-secrets/token && cat /run/mlops-secrets/token"]
    )
    assert code == 0 and out.decode().split() == ["400", "65534", "s3cr3t-value"], out
    ContainerProvider().delete(created.id, created.outs)
