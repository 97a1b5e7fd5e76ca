"""The model server as a plain ASGI application on uvicorn.

No web framework: routing is a dict lookup and the body goes straight from bytes to orjson (or numpy, for
binary tensors), so the fixed cost per request stays far below the cost of the model. Three protocols share
one validation and one prediction path (`_score`): our own `/predict`, MLflow's `/invocations` and the
Open Inference Protocol v2 under `/v2`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from ml.serve import inference_v2, mlflow_scoring
from ml.serve.body import REQUEST_ID, read_body, request_header, request_id_of, require_json, require_v2_media
from ml.serve.errors import RequestError
from ml.serve.loader import fetch
from ml.serve.predictor import Prediction, Predictor
from ml.serve.schema import Columns, loads, split_body, value_budget
from ml.serve.settings import ServeSettings
from ml.serve.state import VERSION_DIR_ENV, ServerState
from ml.serve.validate import validate_columns

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Headers = list[tuple[bytes, bytes]]
Reply = tuple[int, bytes, Headers]
_JSON: Headers = [(b"content-type", b"application/json")]
# path -> (method, protocol): the protocol labels metrics and prediction-log rows.
_ROUTES = {
    "/predict": ("POST", "mlops"),
    "/health": ("GET", "mlops"),
    "/ready": ("GET", "mlops"),
    "/metadata": ("GET", "mlops"),
    "/metrics": ("GET", "mlops"),
    "/openapi.json": ("GET", "mlops"),
    "/invocations": ("POST", "mlflow"),
    "/ping": ("GET", "mlflow"),
    "/version": ("GET", "mlflow"),
    "/v2": ("GET", "v2"),
    "/v2/health/live": ("GET", "v2"),
    "/v2/health/ready": ("GET", "v2"),
}
# Bodies from this size on are decoded and scored off the event loop (about a millisecond of work on its own).
INLINE_BODY_BYTES = 128 * 1024
# At most this many large bodies are decoded at once: more would only share the same cores (and the GIL).
DECODE_THREADS = 2
_V2_MODEL = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?$")


class ModelServer:
    def __init__(self, settings: ServeSettings, state: ServerState) -> None:
        self.settings = settings
        self.state = state
        self._loading: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode")

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
                self._pool.shutdown(wait=False)
                await asyncio.to_thread(self.state.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        path = scope["path"]
        request_id = request_id_of(scope["headers"])
        method, protocol = _ROUTES.get(path, ("", "v2" if path.startswith("/v2/") else "mlops"))
        endpoint = path if method else "other"
        try:
            v2 = _V2_MODEL.match(path) if not method else None
            if v2 is not None:
                suffix = v2.group(3) or ""
                method = "POST" if suffix == "/infer" else "GET"
                endpoint = "/v2/models/{name}" + ("/versions/{version}" if v2.group(2) else "") + suffix
            if not method:
                raise RequestError.single("not_found", f"no endpoint {path!r}; see /openapi.json")
            if scope["method"] != method:
                raise RequestError.single("method_not_allowed", f"{path} takes {method}, not {scope['method']}")
            if v2 is not None:
                status, body, headers = await self._v2_model(v2, scope, receive, request_id)
            elif method == "POST":
                status, body, headers = await self._post(path, scope, receive, request_id)
            else:
                status, body, headers = self._get(path)
        except RequestError as exc:
            status, body, headers = exc.status, _error_body(exc, protocol), _JSON
            if status == 408:
                # The client is still sending: without this the connection would stay open for the rest.
                headers = [*_JSON, (b"connection", b"close")]
            self.state.error(exc.kind, protocol)
        except Exception:
            log.exception("request %s failed", request_id)
            failure = RequestError.single("internal", "internal error")
            status, body, headers = 500, _error_body(failure, protocol), _JSON
            self.state.error("internal", protocol)
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
        self.state.observe(endpoint, protocol, status, time.perf_counter() - start)
        if self.settings.access_log:
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "path": path,
                    "protocol": protocol,
                    "status": status,
                    "ms": (time.perf_counter() - start) * 1e3,
                },
            )

    def _get(self, path: str) -> Reply:
        state = self.state
        if path in ("/health", "/ping", "/v2/health/live"):
            if state.failure:
                return 503, orjson.dumps({"status": "failed", "error": state.failure}), _JSON
            # MLflow's /ping answers a bare newline; our /health keeps its JSON body.
            return 200, b"\n" if path == "/ping" else orjson.dumps({"status": "ok"}), _JSON
        if path == "/metrics":
            return 200, state.metrics_text(), [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
        if path == "/openapi.json":
            return 200, orjson.dumps(state.openapi()), _JSON
        if path == "/version":
            return 200, mlflow_scoring.PROTOCOL_VERSION.encode(), _JSON
        if path == "/v2":
            return (
                200,
                orjson.dumps({"name": "mlops-serve", "version": "2", "extensions": ["binary_tensor_data"]}),
                _JSON,
            )
        predictor = state.require_ready()
        if path == "/ready":
            return 200, orjson.dumps({"status": "ready", "model_version": predictor.manifest.version}), _JSON
        if path == "/v2/health/ready":
            return 200, b"", _JSON
        return 200, orjson.dumps(state.metadata()), _JSON

    async def _post(self, path: str, scope: Scope, receive: Any, request_id: str) -> Reply:
        predictor = self.state.require_ready()
        raw = await read_body(scope, receive, self.settings.max_body_bytes, self.settings.body_timeout)
        return await self._decoded(len(raw), self._post_body, path, scope, raw, request_id, predictor)

    def _post_body(self, path: str, scope: Scope, raw: bytes, request_id: str, predictor: Predictor) -> Reply:
        content_type, rows = request_header(scope, b"content-type"), self.settings.max_rows
        if path == "/invocations":
            decoded = mlflow_scoring.decode_invocation(raw, content_type, predictor.schema, max_rows=rows)
            result = self._score("mlflow", request_id, predictor, decoded)
            return 200, mlflow_scoring.encode_predictions(result.predictions), _JSON
        require_json(content_type)
        body = loads(raw, max_values=value_budget(predictor.schema, rows))
        result = self._score("mlops", request_id, predictor, split_body(body, predictor.schema, max_rows=rows))
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

    async def _v2_model(self, match: re.Match[str], scope: Scope, receive: Any, request_id: str) -> Reply:
        name, version, suffix = match.group(1), match.group(2), match.group(3)
        manifest = self.state.manifest
        if name != manifest.name or (version is not None and version != manifest.version):
            raise RequestError.single(
                "not_found",
                f"model {name!r} version {version or 'any'} is not served here; this server serves "
                f"{manifest.name!r} version {manifest.version}",
            )
        predictor = self.state.require_ready()
        if suffix == "/ready":
            return 200, b"", _JSON
        if suffix is None:
            return 200, orjson.dumps(self.state.v2_metadata()), _JSON
        raw = await read_body(scope, receive, self.settings.max_body_bytes, self.settings.body_timeout)
        return await self._decoded(len(raw), self._infer, scope, raw, request_id, predictor)

    def _infer(self, scope: Scope, raw: bytes, request_id: str, predictor: Predictor) -> Reply:
        manifest = predictor.manifest
        require_v2_media(request_header(scope, b"content-type"))
        length = request_header(scope, inference_v2.HEADER_LENGTH)
        if length is not None and not length.isdigit():
            raise RequestError.single("bad_request_shape", "Inference-Header-Content-Length must be a byte count")
        split = None if length is None else int(length)
        decoded, header = inference_v2.decode_infer(raw, split, predictor.schema, max_rows=self.settings.max_rows)
        v2_id = header.get("id")
        if isinstance(v2_id, str) and REQUEST_ID.match(v2_id):
            request_id = v2_id
        result = self._score("v2", request_id, predictor, decoded)
        body, header_length = inference_v2.encode_infer(
            result.labels, result.proba, header, (manifest.name, manifest.version), request_id
        )
        if header_length is None:
            return 200, body, _JSON
        return (
            200,
            body,
            [
                (b"content-type", b"application/octet-stream"),
                (inference_v2.HEADER_LENGTH, str(header_length).encode()),
            ],
        )

    def _score(self, protocol: str, request_id: str, predictor: Predictor, decoded: Columns) -> Prediction:
        """The one validation and prediction path of every protocol, logged and counted."""
        settings = self.settings
        batch = validate_columns(
            decoded, predictor.schema, max_rows=settings.max_rows, reject_extra=settings.extra_columns == "reject"
        )
        result = predictor.predict(batch)
        self.state.predicted(protocol, request_id, batch, result)
        return result

    async def _decoded(self, size: int, work: Callable[..., Reply], *args: Any) -> Reply:
        """Small bodies are decoded and scored on the event loop (a thread hop would cost more than the work);
        large ones in the decode pool, so a 16 MiB body does not hold up every other connection meanwhile."""
        if size < INLINE_BODY_BYTES:
            return work(*args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(work, *args))


def _error_body(exc: RequestError, protocol: str) -> bytes:
    body = exc.body()
    if protocol == "mlflow":
        body = {"error_code": mlflow_scoring.error_code(exc.status), **body}
    elif protocol == "v2":
        # The v2 protocol's error is one string; our kind and the full list stay beside it.
        body = {**body, "error": f"{exc.kind}: {body['message']}", "kind": exc.kind}
    return orjson.dumps(body)


def create_app() -> ModelServer:
    """uvicorn factory: settings from the environment, model from the cache the runner filled."""
    from ml.serve.logs import configure_json_logging

    configure_json_logging()
    settings = ServeSettings.load()
    version_dir = os.environ.get(VERSION_DIR_ENV)
    path = Path(version_dir) if version_dir else fetch(settings.model_uri, settings.tracking_uri, settings.model_cache)
    return ModelServer(settings, ServerState(settings, path))
