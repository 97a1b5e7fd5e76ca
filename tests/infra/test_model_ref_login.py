"""The program's model lookup authenticates to a tracking server with basic auth: with the stack's login (handed
over by the operator, keyed by stack) the alias resolves; without it the answer is a 401, which is `failed`,
never `missing`."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from contract import TRACKING_CREDENTIALS_ENV, ModelRef
from infra import model_ref

LOGIN = ("mlops", "s3cret:with@signs")


class _Registry(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(":".join(LOGIN).encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"model_version": {"version": "4"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_the_login_resolves_the_alias_and_its_absence_is_a_failure(server: str) -> None:
    ref = ModelRef.parse("models:/m@champion")
    assert model_ref.lookup(ref, server, credentials=LOGIN) == model_ref.Lookup("found", pinned="models:/m/4")
    refused = model_ref.lookup(ref, server)
    assert refused.kind == "failed" and "401" in refused.reason


def test_the_operators_login_is_used_for_its_own_stack_only(monkeypatch: pytest.MonkeyPatch, server: str) -> None:
    monkeypatch.setenv(
        TRACKING_CREDENTIALS_ENV, json.dumps({"stack": "prod", "username": LOGIN[0], "password": LOGIN[1]})
    )
    assert model_ref.credentials_from_environment("prod") == LOGIN
    assert model_ref.credentials_from_environment("staging") is None
    assert model_ref.resolve("models:/m@champion", server, stack="prod") == "models:/m/4"
