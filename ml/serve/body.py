"""What the server reads of a request before decoding it: the body within its size limit and deadline, the
media type, the request id."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from ml.serve.errors import RequestError

Scope = dict[str, Any]
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# What a browser may send cross-site without a preflight: never a model input.
_FORM_TYPES = (b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data")


def request_header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value)
    return None


async def read_body(scope: Scope, receive: Any, limit: int, timeout: float) -> bytes:
    """The whole body: 413 as soon as it is known to be over `limit` bytes, 408 when it has not all arrived
    `timeout` seconds after the headers (a client trickling its body must not hold the connection forever)."""
    length = request_header(scope, b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except TimeoutError:
        raise RequestError.single(
            "request_timeout",
            f"the body was not complete {timeout:g} s after the headers ({size} bytes arrived); "
            "send the body at once, or in smaller batches",
        ) from None


def _too_large(limit: int) -> RequestError:
    return RequestError.single("body_too_large", f"the body is over {limit} bytes; send smaller batches")


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when it is a plain token of at most 128 characters, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


def _media(value: bytes | None) -> bytes:
    return (value or b"").split(b";", 1)[0].strip().lower()


def _is_json(value: bytes | None) -> bool:
    media = _media(value)
    return media == b"application/json" or media.endswith(b"+json")


def require_json(content_type: bytes | None) -> None:
    """415 unless the body is declared JSON. A missing type is refused too: a browser may send a body without
    one cross-site, without a preflight."""
    if not _is_json(content_type):
        shown = "none" if content_type is None else repr(content_type.decode("latin-1"))
        raise RequestError.single("unsupported_media_type", f"content-type {shown}: send application/json")


def require_v2_media(content_type: bytes | None) -> None:
    """415 for a v2 infer body declared as anything but JSON or binary tensors (application/octet-stream). A
    missing type is accepted here: tritonclient, the protocol's reference client, sends none."""
    if content_type is None or _is_json(content_type) or _media(content_type) == b"application/octet-stream":
        return
    hint = " (a form or text type, as a web page would post)" if _media(content_type) in _FORM_TYPES else ""
    raise RequestError.single(
        "unsupported_media_type",
        f"content-type {content_type.decode('latin-1')!r}{hint}: /v2 infer takes application/json, or "
        "application/octet-stream with Inference-Header-Content-Length",
    )
