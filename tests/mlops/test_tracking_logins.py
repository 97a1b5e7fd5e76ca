"""The operator's tracking logins: each MLflow request carries the login of its own server only, so one process
can promote between two servers with different logins; a server no stack describes gets no header."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlops import tracking_logins
from mlops.stacks import tracking_login


def _server() -> tuple[ThreadingHTTPServer, list[str | None]]:
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"experiments": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, seen


@pytest.fixture
def servers() -> Iterator[list[tuple[str, list[str | None]]]]:
    started = [_server() for _ in range(3)]
    yield [(f"http://127.0.0.1:{httpd.server_address[1]}", seen) for httpd, seen in started]
    for httpd, _ in started:
        httpd.shutdown()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_each_server_gets_its_own_login_and_an_unknown_one_none(
    servers: list[tuple[str, list[str | None]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # Selected for this test only (the provider stays registered; it sends nothing to servers it was not told of).
    monkeypatch.setenv(tracking_logins.AUTH_ENV, tracking_logins.PROVIDER_NAME)
    (dev, dev_seen), (staging, staging_seen), (other, other_seen) = servers
    tracking_logins.remember(dev, "mlops", "dev-pass")
    tracking_logins.remember(staging + "/", "mlops", "staging-pass")
    for uri in (dev, staging, other):
        MlflowClient(tracking_uri=uri).search_experiments()
    assert set(dev_seen) == {basic("mlops", "dev-pass")}
    assert set(staging_seen) == {basic("mlops", "staging-pass")}
    assert set(other_seen) == {None}


def test_origin_makes_the_port_explicit() -> None:
    assert tracking_logins.origin("http://Host") == tracking_logins.origin("http://host:80/path") == "http://host:80"
    assert tracking_logins.origin("https://h/x") == "https://h:443"
    assert tracking_logins.origin("file:///x") == ""


class _Output:
    def __init__(self, value: Any) -> None:
        self.value, self.secret = value, True


def test_the_stack_output_reads_as_a_login_or_none() -> None:
    assert tracking_login(_Output({"username": "mlops", "password": "p"})) == ("mlops", "p")
    assert tracking_login(_Output({})) is None
    assert tracking_login(None) is None
