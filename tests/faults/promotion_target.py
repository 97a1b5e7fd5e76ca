"""A target environment for promotion tests: a fake `Deployer` in front of a real HTTP endpoint.

`FakeServing` keeps the serving model reference the way a stack keeps `mlops:serving.modelUri`, and its
`roll_out` resolves that reference in the target's real registry, loads the real model and serves it on
a loopback endpoint (`/metadata`, `/predict`), so the flow's smoke test runs against real predictions in
milliseconds instead of a `pulumi up`. Faults are injected per call: `faults["roll_out"]` is a list of
exceptions (or None) consumed one call at a time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from contract import MODEL_URI


class Applied(BaseException):
    """Raised by `roll_out` *after* the new version serves: a `pulumi up` killed once replicas were replaced."""


class FakeServing:
    def __init__(self, tracking_uri: str, *, delay_s: float = 0.0) -> None:
        self.tracking_uri = tracking_uri
        self.uri = ""
        self.served_version: str | None = None
        self.model: Any = None
        self.delay_s = delay_s
        self.faults: dict[str, list[BaseException | None]] = {}
        self.calls: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _fault(self, call: str) -> None:
        self.calls.append(call)
        queue = self.faults.get(call)
        fault = queue.pop(0) if queue else None
        if fault is not None and not isinstance(fault, Applied):
            raise fault

    def model_uri(self) -> str:
        return self.uri

    def set_model_uri(self, uri: str) -> None:
        self._fault("set_model_uri")
        self.uri = uri

    def roll_out(self) -> str:
        queue = self.faults.get("roll_out")
        after = queue[0] if queue and isinstance(queue[0], Applied) else None
        self._fault("roll_out")
        time.sleep(self.delay_s)
        self.served_version, self.model = self._load(self.uri)
        if after is not None:
            raise after
        return self.endpoint

    def _load(self, uri: str) -> tuple[str | None, Any]:
        from ml.promote.versions import find_alias, get_version

        match = MODEL_URI.match(uri) if uri else None
        if match is None:
            return None, None
        version = (
            find_alias(self.tracking_uri, match["name"], match["alias"])
            if match["alias"]
            else get_version(self.tracking_uri, match["name"], version=match["version"])
        )
        return (version.version, version.load()) if version is not None else (None, None)

    def resolved_config(self) -> str | None:
        """The version the configured reference resolves to now (what the next rollout would serve)."""
        from ml.promote.versions import find_alias

        match = MODEL_URI.match(self.uri) if self.uri else None
        if match is None:
            return None
        if match["version"]:
            return str(match["version"])
        found = find_alias(self.tracking_uri, match["name"], match["alias"])
        return found.version if found else None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(serving: FakeServing) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if serving.served_version is None:
                self._answer(503, {"error": "no model"})
            else:
                self._answer(200, {"version": serving.served_version})

        def do_POST(self) -> None:
            import pandas as pd

            if serving.served_version is None:
                self._answer(503, {"error": "no model"})
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            predictions = serving.model.predict(pd.DataFrame(body["records"])).tolist()
            self._answer(200, {"predictions": predictions, "model_version": serving.served_version})

    return Handler
