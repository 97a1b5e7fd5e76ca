"""Model reference resolution against a fake tracking server that answers 200, 404, 401, 500 or hangs up.

The rule (infra/model_ref.py): only a definite "does not exist" on a stack that never served plans no
serving; any other failure keeps the deployed version, or fails when there is none to keep;
`requireModel` makes anything but a found reference fail. Resolution against a real MLflow server is in
test_platform_docker.py.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from contract import DEPLOYED_MODEL_ENV
from infra import model_ref
from infra.model_ref import Deployed, UnresolvedModel
from tests.support.ports import free_port

STACK = "unit-model-ref"
SERVED = "models:/m/3"


class FakeTracking:
    """A tiny MLflow REST stand-in on 127.0.0.1: `answer` is (status, error_code) or "close"."""

    def __init__(self) -> None:
        self.answer: tuple[int, str] | str = (200, "")
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                if fake.answer == "close":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                status, code = fake.answer  # type: ignore[misc]
                body = {"model_version": {"name": "m", "version": "7"}} if status == 200 else {"error_code": code}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tracking() -> Iterator[FakeTracking]:
    fake = FakeTracking()
    try:
        yield fake
    finally:
        fake.close()


def deployed(monkeypatch: pytest.MonkeyPatch, served: str | None, *, ever: bool = True, stack: str = STACK) -> None:
    """What the operator hands the program: the stack's state (None: nothing handed, a bare `pulumi up`)."""
    if served is None:
        monkeypatch.delenv(DEPLOYED_MODEL_ENV, raising=False)
    else:
        monkeypatch.setenv(DEPLOYED_MODEL_ENV, json.dumps({"stack": stack, "deployed": ever, "served": served}))


def resolve(url: str, uri: str = "models:/m@champion", require: bool = False) -> str:
    return model_ref.resolve(uri, url, stack=STACK, require_model=require, timeout_s=2)


def test_no_reference_resolves_to_nothing_without_asking() -> None:
    assert model_ref.resolve("", "http://127.0.0.1:1") == ""


def test_a_malformed_reference_is_an_error() -> None:
    with pytest.raises(ValueError, match="models:/NAME@ALIAS"):
        model_ref.resolve("breast-cancer@champion", "http://127.0.0.1:1")


def test_a_found_alias_is_pinned_whatever_is_deployed(tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch) -> None:
    deployed(monkeypatch, SERVED)
    assert resolve(tracking.url) == "models:/m/7"
    assert resolve(tracking.url, "models:/m/7", require=True) == "models:/m/7"
    assert "alias=champion" in tracking.requests[0] and "version=7" in tracking.requests[1]


@pytest.mark.parametrize("answer", [(404, "RESOURCE_DOES_NOT_EXIST"), (404, ""), (400, "RESOURCE_DOES_NOT_EXIST")])
def test_a_missing_alias_on_a_stack_that_never_served_plans_no_serving(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, answer: tuple[int, str]
) -> None:
    tracking.answer = answer
    deployed(monkeypatch, "")
    with caplog.at_level(logging.WARNING, logger="infra.model_ref"):
        assert resolve(tracking.url) == ""
    assert "mlops promote" in caplog.text


def test_a_missing_alias_keeps_the_version_a_stack_serves(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tracking.answer = (404, "RESOURCE_DOES_NOT_EXIST")
    deployed(monkeypatch, SERVED)
    with caplog.at_level(logging.WARNING, logger="infra.model_ref"):
        assert resolve(tracking.url) == SERVED
    assert f"keeping the version deployed now, {SERVED}" in caplog.text


@pytest.mark.parametrize(
    "answer", [(500, "INTERNAL_ERROR"), (503, ""), (401, "UNAUTHENTICATED"), (400, "INVALID_PARAMETER_VALUE"), "close"]
)
def test_a_failed_lookup_keeps_the_deployed_version_and_says_so(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, answer: object
) -> None:
    tracking.answer = answer  # type: ignore[assignment]
    deployed(monkeypatch, SERVED)
    with caplog.at_level(logging.WARNING, logger="infra.model_ref"):
        assert resolve(tracking.url) == SERVED
    assert "keeping the version deployed now" in caplog.text and SERVED in caplog.text


def test_a_refused_connection_keeps_the_deployed_version(monkeypatch: pytest.MonkeyPatch) -> None:
    deployed(monkeypatch, SERVED)
    assert resolve(f"http://127.0.0.1:{free_port()}") == SERVED


def test_a_timeout_keeps_the_deployed_version(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        deployed(monkeypatch, SERVED)
        assert (
            model_ref.resolve(
                "models:/m@champion", f"http://127.0.0.1:{silent.getsockname()[1]}", stack=STACK, timeout_s=0.5
            )
            == SERVED
        )


@pytest.mark.parametrize("answer", [(500, ""), (401, ""), "close"])
def test_a_failed_lookup_with_nothing_deployed_fails_instead_of_planning(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch, answer: object
) -> None:
    tracking.answer = answer  # type: ignore[assignment]
    deployed(monkeypatch, "")
    with pytest.raises(UnresolvedModel, match="no version to keep"):
        resolve(tracking.url)


@pytest.mark.parametrize("answer", [(404, "RESOURCE_DOES_NOT_EXIST"), (500, "")])
def test_without_the_deployed_version_nothing_but_found_is_accepted(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch, answer: tuple[int, str]
) -> None:
    """A bare `pulumi up` (not started by `mlops`): unknown history is never read as "never served"."""
    tracking.answer = answer
    deployed(monkeypatch, None)
    with pytest.raises(UnresolvedModel, match=DEPLOYED_MODEL_ENV):
        resolve(tracking.url)


def test_the_deployed_version_of_another_stack_is_ignored(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracking.answer = (500, "")
    deployed(monkeypatch, SERVED, stack="some-other-stack")
    with pytest.raises(UnresolvedModel):
        resolve(tracking.url)


@pytest.mark.parametrize("answer", [(404, "RESOURCE_DOES_NOT_EXIST"), (500, ""), "close"])
@pytest.mark.parametrize("served", ["", SERVED])
def test_require_model_fails_on_anything_but_found(
    tracking: FakeTracking, monkeypatch: pytest.MonkeyPatch, answer: object, served: str
) -> None:
    tracking.answer = answer  # type: ignore[assignment]
    deployed(monkeypatch, served)
    with pytest.raises(UnresolvedModel, match="requireModel"):
        resolve(tracking.url, require=True)


@pytest.mark.parametrize("require", [False, True])
def test_the_first_deployment_serves_nothing_since_its_tracking_server_does_not_exist_yet(
    monkeypatch: pytest.MonkeyPatch, require: bool
) -> None:
    deployed(monkeypatch, "", ever=False)
    assert resolve(f"http://127.0.0.1:{free_port()}", require=require) == ""


def test_decide_is_a_table_of_the_three_answers() -> None:
    found, missing, failed = (
        model_ref.Lookup("found", "models:/m/9"),
        model_ref.Lookup("missing"),
        model_ref.Lookup("failed"),
    )
    serving, idle = Deployed(True, SERVED), Deployed(True, "")
    decide = model_ref.decide
    assert decide("models:/m@a", found, None, require_model=True, where="-") == "models:/m/9"
    assert decide("models:/m@a", missing, idle, require_model=False, where="-") == ""
    assert decide("models:/m@a", missing, serving, require_model=False, where="-") == SERVED
    assert decide("models:/m@a", failed, serving, require_model=False, where="-") == SERVED
    with pytest.raises(UnresolvedModel):
        decide("models:/m@a", failed, idle, require_model=False, where="-")


def test_against_a_real_mlflow_server_a_model_without_the_alias_is_missing_not_failed(
    mlflow_server: str, model_name: str
) -> None:
    """MLflow answers an alias the model does not have with 400 INVALID_PARAMETER_VALUE, not 404: that is
    still a definite "does not exist" (a model trained but never promoted), unlike a server error."""
    from mlflow import MlflowClient

    from contract import ModelRef

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    client.create_registered_model(model_name)
    missing = model_ref.lookup(ModelRef.parse(f"models:/{model_name}@champion"), mlflow_server)
    assert (missing.kind, missing.reason) == ("missing", "HTTP 400 INVALID_PARAMETER_VALUE")
    nothing = model_ref.lookup(ModelRef.parse(f"models:/{model_name}-absent@champion"), mlflow_server)
    assert nothing.kind == "missing"
    other = model_ref.lookup(ModelRef.parse(f"models:/{model_name}@other"), mlflow_server)
    assert other.kind == "missing"
