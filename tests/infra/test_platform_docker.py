"""`pulumi up` of the platform on the real Docker engine, through the real CLI, as a test stack with its
own names and ports (stack `itest`), so a user's running `local` is never touched."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import model_ref
from tests.support.docker_objects import docker_objects, purge
from tests.support.pulumi_mocks import stack_config
from tests.support.pulumi_stacks import never_deployed, stack, why_not_runnable

STACK = "itest"
pytestmark = pytest.mark.integration


def itest_config() -> dict[str, Any]:
    config = stack_config("local")
    config["registry"] = {**config["registry"], "port": 15501}
    config["tracking"] = {**config["tracking"], "port": 15500}
    config["artifacts"] = {"volume": f"mlops-{STACK}-artifacts"}
    config["serving"] = {**config["serving"], "port": 15580, "replicas": 1, "modelUri": "models:/itest-model@champion"}
    return config


def http(url: str, data: dict | None = None, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(data).encode() if data is not None else None, headers={"Content-Type": "application/json"}
    )
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    reason = why_not_runnable()
    if reason:
        pytest.skip(reason)
    purge(STACK)
    root: Path = tmp_path_factory.mktemp("platform")
    test_stack = stack(root, STACK, itest_config())
    try:
        result = test_stack.up(on_output=print)
        yield {"stack": test_stack, "up": result, "outputs": {k: v.value for k, v in result.outputs.items()}}
    finally:
        try:
            test_stack.destroy(on_output=print)
        finally:
            purge(STACK)


def test_up_serves_registry_and_tracking_on_loopback(platform: dict[str, Any]) -> None:
    out = platform["outputs"]
    assert out["tracking_uri"] == "http://127.0.0.1:15500" and out["registry_address"] == "127.0.0.1:15501"
    assert out["serving_endpoint"] == ""
    assert http(f"{out['tracking_uri']}/health")[0] == 200
    credentials = out["registry_credentials"]
    registry = f"http://{out['registry_address']}/v2/"
    assert http(registry)[0] == 401
    assert http(registry, auth=(credentials["username"], "wrong"))[0] == 401
    assert http(registry, auth=(credentials["username"], credentials["password"]))[0] == 200
    status, body = http(f"{registry}_catalog", auth=(credentials["username"], credentials["password"]))
    assert status == 200
    pushed = set(json.loads(body)["repositories"])
    assert {"mlops/tracking", "mlops/server", "mlops/trainer", "mlops/balancer"} <= pushed
    for ref in out["images"].values():
        assert not ref.endswith(":latest")


def test_second_up_reports_no_changes(platform: dict[str, Any]) -> None:
    """Nothing changes, except images whose sources were edited while the test ran (the work tree may be
    shared): such an image has a new content tag in `images`, and its replacement is all that may happen."""
    changed: list[tuple[str, str]] = []

    def record(event: Any) -> None:
        pre = event.resource_pre_event
        if pre is not None and pre.metadata.op.value not in ("same", "read"):
            changed.append((pre.metadata.op.value, pre.metadata.urn.rsplit("::", 1)[-1]))

    again = platform["stack"].up(on_output=print, on_event=record)
    before, after = platform["outputs"]["images"], again.outputs["images"].value
    edited = {f"mlops-registry-image-{role}" for role in before if before[role] != after[role]}
    unexpected = [(op, name) for op, name in changed if name not in edited]
    assert unexpected == [], unexpected
    if not edited:
        assert set(again.summary.resource_changes) == {"same"}, again.summary.resource_changes
    platform["outputs"] = {k: v.value for k, v in again.outputs.items()}


def test_alias_resolves_to_the_version_it_points_at(platform: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    api = f"{platform['outputs']['tracking_uri']}/api/2.0/mlflow"
    assert http(f"{api}/registered-models/create", {"name": "itest-other"})[0] == 200
    for _ in range(2):
        status, body = http(f"{api}/runs/create", {"experiment_id": "0"})
        assert status == 200, body
        run_id = json.loads(body)["run"]["info"]["run_id"]
        version = {"name": "itest-other", "source": f"runs:/{run_id}/model", "run_id": run_id}
        status, body = http(f"{api}/model-versions/create", version)
        assert status == 200, body
    alias = {"name": "itest-other", "alias": "champion", "version": "1"}
    assert http(f"{api}/registered-models/alias", alias)[0] == 200
    tracking = platform["outputs"]["tracking_uri"]
    assert model_ref.resolve("models:/itest-other@champion", tracking) == "models:/itest-other/1"
    assert model_ref.resolve("models:/itest-other/2", tracking) == "models:/itest-other/2"
    # A reference that truly does not exist plans no serving only on a stack that has never served.
    monkeypatch.setenv(*next(iter(never_deployed(STACK).items())))
    assert model_ref.resolve("models:/itest-other/9", tracking, stack=STACK) == ""
    assert model_ref.resolve("models:/itest-other@nobody", tracking, stack=STACK) == ""


def test_replaced_tracking_container_keeps_registered_data(platform: dict[str, Any]) -> None:
    test_stack = platform["stack"]
    urns = [
        r["urn"]
        for r in test_stack.export_stack().deployment["resources"]
        if r["urn"].endswith("::mlops-tracking-container")
    ]
    assert len(urns) == 1
    import docker

    before = docker.from_env().containers.get(f"mlops-{STACK}-tracking").id
    result = test_stack.up(replace=urns, on_output=print)
    assert result.summary.resource_changes.get("replace") == 1, result.summary.resource_changes
    assert docker.from_env().containers.get(f"mlops-{STACK}-tracking").id != before
    query = urllib.parse.urlencode({"name": "itest-other", "alias": "champion"})
    status, body = http(f"{platform['outputs']['tracking_uri']}/api/2.0/mlflow/registered-models/alias?{query}")
    assert status == 200 and json.loads(body)["model_version"]["version"] == "1"


def test_destroy_removes_every_container_network_and_image_and_keeps_volumes(platform: dict[str, Any]) -> None:
    platform["stack"].destroy(on_output=print)
    left = docker_objects(STACK)
    assert (left["containers"], left["networks"], left["images"]) == ([], [], []), left
    assert {f"mlops-{STACK}-tracking-data", f"mlops-{STACK}-artifacts", f"mlops-{STACK}-registry"} <= set(
        left["volumes"]
    )
