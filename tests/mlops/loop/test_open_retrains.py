"""`mlops loop status`'s open retrains on the docker target, against a real Docker engine: the running
containers labelled as this stack's training jobs, and no other stack's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import suppress

import pytest

from contract import LABEL_ROLE, LABEL_STACK, Outputs
from ml.jobs.spec import LABEL_JOB, ROLE_TRAINING_JOB
from mlops.loop.status import running_jobs
from mlops.stacks import Environment

pytestmark = pytest.mark.integration

BASE_IMAGE = "mlops-base:bookworm-py311"


@pytest.fixture
def stacks_with_jobs() -> Iterator[tuple[str, str]]:
    """Two stack names, each with one running container labelled as its training job."""
    import docker

    client = docker.from_env()
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine with {BASE_IMAGE} ({exc}); `make setup` builds it")
    names = [f"mlops-loop-status-test-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    containers = []
    try:
        for stack in names:
            labels = {LABEL_STACK: stack, LABEL_ROLE: ROLE_TRAINING_JOB, LABEL_JOB: f"{stack}-train-m-0001"}
            containers.append(
                client.containers.run(
                    BASE_IMAGE, ["sleep", "120"], name=f"{stack}-job", labels=labels, detach=True, network_mode="none"
                )
            )
        yield names[0], names[1]
    finally:
        for container in containers:
            with suppress(docker.errors.NotFound):
                container.remove(force=True)


def _environment(stack: str) -> Environment:
    training = {
        "target": "docker",
        "image": BASE_IMAGE,
        "tracking_uri": "http://tracking:5000",
        "limits": {"cpus": 1, "memory_mb": 512},
        "network": stack,
        "labels": {LABEL_STACK: stack},
    }
    return Environment(stack, {Outputs.TRACKING_URI: "http://127.0.0.1:9", Outputs.TRAINING: training})


def test_only_this_stacks_running_training_jobs_are_open_retrains(stacks_with_jobs: tuple[str, str]) -> None:
    mine, other = stacks_with_jobs
    jobs = running_jobs(_environment(mine))
    assert [j["name"] for j in jobs] == [f"{mine}-train-m-0001"]
    assert jobs[0]["started"][:2] == "20"  # an ISO timestamp from the engine
    assert [j["name"] for j in running_jobs(_environment(other))] == [f"{other}-train-m-0001"]


def test_a_stack_without_running_jobs_has_no_open_retrain(stacks_with_jobs: tuple[str, str]) -> None:
    assert running_jobs(_environment(f"mlops-loop-status-test-{uuid.uuid4().hex[:8]}")) == []
