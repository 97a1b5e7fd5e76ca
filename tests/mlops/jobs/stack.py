"""A stack-less stand-in for a docker environment: a labelled network, an MLflow server container on it
(published on 127.0.0.1 for the host side), and the `training` output a docker stack would export."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from contract import LABEL_ROLE, LABEL_STACK, Outputs, label_filters
from tests.support.ports import free_port

TRACKING_PORT = 5000
STARTUP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class JobStack:
    name: str
    """The value of the stack label on everything created here; also the network's name."""
    tracking_uri: str
    """As the host sees it (published on 127.0.0.1)."""
    internal_tracking_uri: str
    """As a job sees it (by container name on the network)."""
    trainer_image: str

    def training_output(self, **changes: Any) -> dict[str, Any]:
        return {
            "target": "docker",
            "image": self.trainer_image,
            "tracking_uri": self.internal_tracking_uri,
            "limits": {"cpus": 1.0, "memory_mb": 2048},
            "network": self.name,
            "labels": {LABEL_STACK: self.name},
            "user": "10001:10001",
            **changes,
        }

    def description(self, **training_changes: Any) -> dict[str, Any]:
        """What `mlops.stacks.resolve` would return for this stand-in, as JSON for `env_cli`."""
        outputs = {
            Outputs.TARGET: "docker",
            Outputs.TRACKING_URI: self.tracking_uri,
            Outputs.TRAINING: self.training_output(**training_changes),
        }
        return {"outputs": outputs, "config": {"training": {"where": "cluster"}}}


def _wait_healthy(uri: str, container: Any) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            raise RuntimeError(f"tracking server exited:\n{container.logs(tail=40).decode(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise RuntimeError(f"tracking server not healthy after {STARTUP_TIMEOUT_S:.0f} s")


def purge(stack: str) -> None:
    """Remove every container, volume and network labelled with `stack`."""
    import docker

    client = docker.from_env()
    filters = label_filters(stack)
    for container in client.containers.list(all=True, filters=filters):
        with suppress(docker.errors.NotFound):
            container.remove(force=True)
    for volume in client.volumes.list(filters=filters):
        with suppress(docker.errors.NotFound):
            volume.remove(force=True)
    for network in client.networks.list(filters=filters):
        with suppress(docker.errors.NotFound):
            network.remove()


@contextmanager
def job_stack(deps_image: str, trainer_image: str) -> Iterator[JobStack]:
    import docker

    client = docker.from_env()
    name = f"mlops-jobs-test-{uuid.uuid4().hex[:8]}"
    labels = {LABEL_STACK: name}
    try:
        client.networks.create(name, driver="bridge", labels=labels)
        tracking_name = f"{name}-tracking"
        port = free_port()
        allowed = ",".join(f"{h},{h}:*" for h in (tracking_name, "127.0.0.1", "localhost"))
        command = ["--host", "0.0.0.0", "--port", str(TRACKING_PORT), "--workers", "1"]
        command += ["--backend-store-uri", "sqlite:////home/mlops/mlflow.db"]
        command += ["--artifacts-destination", "/home/mlops/artifacts", "--serve-artifacts"]
        command += ["--allowed-hosts", allowed]
        container = client.containers.run(
            deps_image,
            entrypoint=["mlflow", "server"],
            command=command,
            name=tracking_name,
            user="10001:10001",
            network=name,
            labels={**labels, LABEL_ROLE: "tracking"},
            environment={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            ports={f"{TRACKING_PORT}/tcp": ("127.0.0.1", port)},
            detach=True,
        )
        uri = f"http://127.0.0.1:{port}"
        _wait_healthy(uri, container)
        yield JobStack(name, uri, f"http://{tracking_name}:{TRACKING_PORT}", trainer_image)
    finally:
        purge(name)
