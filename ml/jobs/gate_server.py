"""The job gate's HTTP side (`python -m ml.jobs.gate_server`): the token, the three routes, and the server.

`ml.jobs.gate` says what the gate starts and refuses; this module only carries requests to it and its answers
back, as JSON, each refusal with its status and the reason.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from contract import monitor_env
from ml.jobs.engine_api import EngineError
from ml.jobs.gate import MAX_FILE_BYTES, Gate, GateRefused
from ml.jobs.spec import JobSpecError

log = logging.getLogger(__name__)


def _handler(gate: Gate, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mlops-job-gate"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _answer(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            shown = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if hmac.compare_digest(shown.encode(), token.encode()):
                return True
            self._answer(401, {"error": "show the stack's gate token as `Authorization: Bearer TOKEN`"})
            return False

        def _carry_out(self, action: Any) -> None:
            try:
                status, body = action()
            except GateRefused as exc:
                status, body = exc.status, {"error": str(exc)}
            except (EngineError, OSError) as exc:
                log.error("%s %s failed: %s", self.command, self.path, exc)
                status, body = 502, {"error": str(exc)}
            self._answer(status, body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/healthz":
                self._answer(200, {"ok": True})
                return
            if not self._authorized():
                return
            if url.path == "/jobs":
                model = parse_qs(url.query).get("model", [""])[0]
                self._carry_out(lambda: (200, {"running": gate.running(model)}))
            elif url.path.startswith("/jobs/"):
                name = url.path.removeprefix("/jobs/")
                self._carry_out(lambda: (200, {"name": name, "state": gate.state(name)}))
            else:
                self._answer(404, {"error": f"no such path {url.path}"})

        def do_POST(self) -> None:
            if not self._authorized():
                return
            if urlparse(self.path).path != "/jobs":
                self._answer(404, {"error": f"no such path {self.path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > 4 * MAX_FILE_BYTES:
                self._answer(413, {"error": f"a request body of {length} bytes is too large"})
                return
            try:
                asked = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(asked, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                self._answer(400, {"error": f"the body is not a JSON object: {exc}"})
                return

            def start() -> tuple[int, dict[str, Any]]:
                gate.start(asked.get("model"), asked.get("name"), asked.get("files"))
                return 201, {"name": asked["name"]}

            self._carry_out(start)

    return Handler


def serve(gate: Gate, token: str, port: int = monitor_env.GATE_PORT, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """The gate's server, not yet serving (`serve_forever` does). It listens on every address of its own
    container, which only the stack network reaches: the gate publishes no port on the host."""
    return ThreadingHTTPServer((host, port), _handler(gate, token))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        token = Path(os.environ[monitor_env.GATE_TOKEN_FILE_ENV]).read_text().strip()
        gate = Gate.from_environ(os.environ)
        gate.engine.ping()
    except (KeyError, OSError, ValueError, JobSpecError, EngineError) as exc:
        log.error("the job gate cannot start: %s", exc)
        return 2
    if not token:
        log.error("the job gate cannot start: its token file is empty")
        return 2
    gate.adopt()
    server = serve(gate, token)
    log.info("job gate of '%s' listening on port %d", gate.spec.environment, server.server_address[1])
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
