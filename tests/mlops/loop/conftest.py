"""Fixtures of the loop tests: the trainer images and a stack-less docker environment, as the job tests build
them (`tests.mlops.jobs.images`, `tests.mlops.jobs.stack`), under this suite's own names and label, and
removed at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.mlops.jobs.stack import JobStack

LOOP_IMAGES = "mlops-loop-test"
"""The repository prefix and the label of this suite's images, apart from the job tests' (removed by label)."""


@pytest.fixture(scope="session")
def loop_images() -> Iterator[tuple[str, str]]:
    import docker

    from tests.mlops.jobs.images import remove_images, trainer_images

    try:
        docker.from_env().ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine answers ({exc}); the loop test runs a training job in a container")
    yield trainer_images(LOOP_IMAGES, LOOP_IMAGES)
    if os.environ.get("MLOPS_TEST_KEEP_IMAGES") != "1":
        remove_images(LOOP_IMAGES)


@pytest.fixture(scope="module")
def loop_stack(loop_images: tuple[str, str]) -> Iterator[JobStack]:
    from tests.mlops.jobs.stack import job_stack

    with job_stack(*loop_images) as stack:
        yield stack
