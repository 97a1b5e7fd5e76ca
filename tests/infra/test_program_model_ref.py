"""The program under mocks with the real model resolution (not patched): a fake tracking server answers,
and the operator's account of the stack's state decides what serving becomes (infra/model_ref.py)."""

from __future__ import annotations

import json
import runpy
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from contract import DEPLOYED_MODEL_ENV
from infra.model_ref import UnresolvedModel
from tests.infra.test_model_ref import FakeTracking
from tests.support.paths import INFRA_MAIN
from tests.support.pulumi_mocks import PREFIX, ProgramRun, RecordingMocks, stack_config

STACK = "unit-serving"
SERVED = "models:/breast-cancer/3"


@pytest.fixture
def tracking() -> Iterator[FakeTracking]:
    fake = FakeTracking()
    try:
        yield fake
    finally:
        fake.close()


def run(tracking: FakeTracking, *, require: bool = False) -> ProgramRun:
    """infra/__main__.py under mocks for a docker stack whose tracking publicUrl is the fake server."""
    config: dict[str, Any] = stack_config("local")
    config["tracking"] = {**config["tracking"], "publicUrl": tracking.url}
    config["serving"] = {**config["serving"], "requireModel": require}
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="mlops-platform", stack=STACK, preview=False)
    pulumi.runtime.set_all_config(
        {f"{PREFIX}{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}, secret_keys=[]
    )
    result = ProgramRun(mocks.resources)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        namespace = runpy.run_path(str(INFRA_MAIN), run_name="__main__")
        return pulumi.Output.all(**namespace["platform"].outputs).apply(result.outputs.update)

    program()
    return result


def served_by(result: ProgramRun) -> set[str]:
    return {c["env"]["MLOPS_MODEL_URI"] for c in result.of_kind("docker:Container") if "MLOPS_MODEL_URI" in c["env"]}


def state(monkeypatch: pytest.MonkeyPatch, served: str, deployed: bool = True) -> None:
    monkeypatch.setenv(DEPLOYED_MODEL_ENV, json.dumps({"stack": STACK, "deployed": deployed, "served": served}))


def test_an_unreachable_tracking_server_keeps_serving_the_deployed_version(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    for answer in [(500, ""), (401, ""), "close"]:
        tracking.answer = answer  # type: ignore[assignment]
        state(monkeypatch, SERVED)
        result = run(tracking)
        assert served_by(result) == {SERVED}
        assert result.outputs["serving_model_version_uri"] == SERVED and result.outputs["serving_endpoint"]


def test_a_moved_alias_rolls_the_new_version_out(tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch) -> None:
    state(monkeypatch, SERVED)
    assert served_by(run(tracking)) == {"models:/breast-cancer/7"}


def test_a_missing_alias_on_a_stack_that_serves_nothing_plans_no_serving(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracking.answer = (404, "RESOURCE_DOES_NOT_EXIST")
    state(monkeypatch, "")
    result = run(tracking)
    assert served_by(result) == set() and result.outputs["serving_endpoint"] == ""


def test_a_failed_lookup_with_nothing_to_keep_fails_the_program(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracking.answer = (503, "")
    state(monkeypatch, "")
    with pytest.raises(UnresolvedModel, match="no version to keep"):
        run(tracking)


def test_require_model_fails_the_program_even_with_a_version_to_keep(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracking.answer = (404, "RESOURCE_DOES_NOT_EXIST")
    state(monkeypatch, SERVED)
    with pytest.raises(UnresolvedModel, match="requireModel"):
        run(tracking, require=True)
