"""The few Docker Engine API calls the job gate makes, as plain HTTP over the engine's unix socket.

The Docker SDK is an operator dependency, not the image's (`ml` never imports it): starting, watching and
removing one training container is a handful of REST calls, so `http.client` on a unix socket does it.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from collections.abc import Mapping
from typing import Any

API_VERSION = "v1.41"
"""Docker 20.10's API, which every engine since answers; nothing newer is needed."""
DEFAULT_SOCKET = "/var/run/docker.sock"


class EngineError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Docker engine answered {status}: {message}")
        self.status, self.message = status, message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class EngineApi:
    """One engine, by its socket; every call opens a connection of its own (the gate calls from threads)."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET, timeout: float = 60.0) -> None:
        self.socket_path, self.timeout = socket_path, timeout

    def _send(self, method: str, url: str, data: bytes | None, content_type: str, timeout: float | None) -> bytes:
        connection = _UnixConnection(self.socket_path, timeout)
        try:
            headers = {"Content-Type": content_type} if data is not None else {}
            connection.request(method, f"/{API_VERSION}{url}", body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        if response.status >= 400:
            try:
                message = json.loads(payload).get("message", "")
            except ValueError:
                message = payload.decode(errors="replace")
            raise EngineError(response.status, message or str(response.reason))
        return payload

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        wait: bool = False,
        **query: Any,
    ) -> Any:
        """The decoded JSON answer (None for an empty one); raises EngineError for a status of 400 or more.
        `wait`: no timeout (a container's wait lasts as long as its job)."""
        url = endpoint + ("?" + urllib.parse.urlencode(query) if query else "")
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        payload = self._send(method, url, data, content_type, None if wait else self.timeout)
        return json.loads(payload) if payload.strip() else None

    def logs(self, name: str, tail: int) -> str:
        """The last `tail` lines a non-TTY container wrote to stderr (its frames' 8-byte headers removed)."""
        stream = self._send("GET", f"/containers/{name}/logs?stderr=1&tail={tail}", None, "", self.timeout)
        out, at = [], 0
        while at + 8 <= len(stream):
            size = int.from_bytes(stream[at + 4 : at + 8], "big")
            out.append(stream[at + 8 : at + 8 + size])
            at += 8 + size
        return b"".join(out).decode(errors="replace")

    def ping(self) -> None:
        connection = _UnixConnection(self.socket_path, 10.0)
        try:
            connection.request("GET", "/_ping")
            if connection.getresponse().status != 200:
                raise EngineError(500, "the engine does not answer its ping")
        finally:
            connection.close()

    def containers(self, labels: Mapping[str, str], *, running_only: bool = False) -> list[dict[str, Any]]:
        """The containers carrying all of `labels` (stopped ones too unless `running_only`)."""
        filters = {"label": [f"{k}={v}" for k, v in sorted(labels.items())]}
        return list(
            self.call("GET", "/containers/json", all=str(not running_only).lower(), filters=json.dumps(filters))
        )

    def remove_container(self, name: str) -> None:
        try:
            self.call("DELETE", f"/containers/{name}", force="true", v="true")
        except EngineError as exc:
            if exc.status != 404:
                raise

    def remove_volume(self, name: str) -> None:
        try:
            self.call("DELETE", f"/volumes/{name}", force="true")
        except EngineError as exc:
            if exc.status != 404:
                raise
