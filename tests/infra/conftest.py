"""Fixtures of the infra tests (helpers: tests.support.pulumi_mocks, kubernetes_schema, pulumi_stacks)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pytest

from tests.support.pulumi_mocks import ProgramRun, run_program


@pytest.fixture
def program_runner() -> Iterator[Callable[..., ProgramRun]]:
    yield run_program


@pytest.fixture(scope="module")
def kubernetes_schemas_read_once() -> Iterator[None]:
    """The schema files are immutable; reading each once instead of per manifest saves most of the run."""
    import kubernetes_validate.utils

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            kubernetes_validate.utils, "schema_contents", functools.cache(kubernetes_validate.utils.schema_contents)
        )
        yield
