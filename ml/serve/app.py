"""The model server as a plain ASGI application on uvicorn.

No web framework: routing is a dict lookup and the body goes straight from bytes to orjson to numpy, so the
fixed cost per request stays far below the cost of the model.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ml.serve.errors import RequestError
from ml.serve.loader import fetch
from ml.serve.settings import ServeSettings
from ml.serve.state import VERSION_DIR_ENV, ServerState

log = logging.getLogger(__name__)

Scope = dict[str, Any]
_JSON = [(b"content-type", b"application/json")]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_ROUTES = {
    "/predict": "POST",
    "/health": "GET",
    "/ready": "GET",
    "/metadata": "GET",
    "/metrics": "GET",
    "/openapi.json": "GET",
}


class ModelServer:
    def __init__(self, settings: ServeSettings, state: ServerState) -> None:
        self.settings = settings
        self.state = state
        self._loading: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Load after the socket is bound, so /health answers while the model is still loading.
                self._loading = asyncio.create_task(asyncio.to_thread(self.state.load))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.state.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        path = scope["path"]
        method = _ROUTES.get(path)
        request_id = _request_id(scope["headers"])
        endpoint = path if method else "other"
        try:
            if method is None:
                raise RequestError.single("not_found", f"no endpoint {path!r}; see /openapi.json")
            if scope["method"] != method:
                raise RequestError.single("method_not_allowed", f"{path} takes {method}, not {scope['method']}")
            if path == "/predict":
                status, body, headers = await self._predict(scope, receive, request_id)
            else:
                status, body, headers = self._get(path)
        except RequestError as exc:
            status, body, headers = exc.status, orjson.dumps(exc.body()), _JSON
            self.state.error(exc.kind)
        except Exception:
            log.exception("request %s failed", request_id)
            status, body, headers = 500, orjson.dumps({"error": "internal", "message": "internal error"}), _JSON
            self.state.error("internal")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *headers,
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.state.observe(endpoint, status, time.perf_counter() - start)
        if self.settings.access_log:
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "path": path,
                    "status": status,
                    "ms": (time.perf_counter() - start) * 1e3,
                },
            )

    def _get(self, path: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        state = self.state
        if path == "/health":
            if state.failure:
                return 503, orjson.dumps({"status": "failed", "error": state.failure}), _JSON
            return 200, orjson.dumps({"status": "ok"}), _JSON
        if path == "/metrics":
            return 200, state.metrics_text(), [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
        if path == "/openapi.json":
            return 200, orjson.dumps(state.openapi()), _JSON
        predictor = state.require_ready()
        if path == "/ready":
            return 200, orjson.dumps({"status": "ready", "model_version": predictor.manifest.version}), _JSON
        return 200, orjson.dumps(state.metadata()), _JSON

    async def _predict(self, scope: Scope, receive: Any, request_id: str) -> tuple[int, bytes, list[Any]]:
        predictor = self.state.require_ready()
        raw = await self._body(scope, receive)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RequestError.single("malformed_json", f"the body is not valid JSON: {exc}") from exc
        settings = self.settings
        batch = predictor.parse(body, max_rows=settings.max_rows, reject_extra=settings.extra_columns == "reject")
        result = predictor.predict(batch)
        self.state.predicted(request_id, batch, result)
        manifest = predictor.manifest
        out: dict[str, Any] = {
            "model_name": manifest.name,
            "model_version": manifest.version,
            "request_id": request_id,
            "predictions": result.predictions,
        }
        if result.probabilities is not None:
            out["probabilities"] = result.probabilities
            out["classes"] = result.classes
        return 200, orjson.dumps(out), _JSON

    async def _body(self, scope: Scope, receive: Any) -> bytes:
        limit = self.settings.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise RequestError.single("body_too_large", f"the body is over {limit} bytes; send smaller batches")
            if name == b"content-type" and not _is_json(value):
                raise RequestError.single(
                    "unsupported_media_type", f"content-type {value.decode('latin-1')!r}: send application/json"
                )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError.single("body_too_large", f"the body is over {limit} bytes; send smaller batches")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _is_json(value: bytes) -> bool:
    media = value.split(b";", 1)[0].strip().lower()
    return media in (b"application/json", b"") or media.endswith(b"+json")


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def create_app() -> ModelServer:
    """uvicorn factory: settings from the environment, model from the cache the runner filled."""
    from ml.serve.logs import configure_json_logging

    configure_json_logging()
    settings = ServeSettings.load()
    version_dir = os.environ.get(VERSION_DIR_ENV)
    path = Path(version_dir) if version_dir else fetch(settings.model_uri, settings.tracking_uri, settings.model_cache)
    return ModelServer(settings, ServerState(settings, path))
