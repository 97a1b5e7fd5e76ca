"""Fixtures of the job tests: the trainer images (built like the infra builds them) and a stack-less
docker environment (network + MLflow server container), both labelled and removed at the end.

`MLOPS_TEST_KEEP_IMAGES=1` keeps the built images between sessions (the deps image takes minutes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.mlops.jobs.stack import JobStack


def _engine_or_skip() -> None:
    import docker

    try:
        docker.from_env().ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine answers ({exc}); the job tests run containers")


@pytest.fixture(scope="session")
def trainer_images() -> Iterator[tuple[str, str]]:
    """`(deps_ref, trainer_ref)` of this checkout, under a test-only name."""
    from tests.mlops.jobs.images import remove_images, trainer_images

    _engine_or_skip()
    refs = trainer_images()
    yield refs
    if os.environ.get("MLOPS_TEST_KEEP_IMAGES") != "1":
        remove_images()


@pytest.fixture(scope="session")
def docker_stack(trainer_images: tuple[str, str]) -> Iterator[JobStack]:
    from tests.mlops.jobs.stack import job_stack

    with job_stack(*trainer_images) as stack:
        yield stack
