"""uvicorn's httptools protocol with a deadline and a size limit on each request head.

uvicorn arms no timer on a connection until its first response is sent: a client that connects and trickles its
request line and headers a byte at a time (slowloris) holds the connection, and a place under
`limit_concurrency`, for as long as it likes, and a header that never ends grows without limit. Here the head of
every request must be complete within `header_timeout` seconds and `MAX_HEAD_BYTES` bytes; otherwise the client
gets a JSON 408 or 431 and the connection is closed. The body has its own deadline in the app (ml.serve.app).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# nginx's default for a request head (large_client_header_buffers 4 8k) is 32 KiB; twice that here.
MAX_HEAD_BYTES = 64 * 1024


class DeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaiting_head = True
        self._head_bytes = 0
        self._began = False
        self._partial = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        waiting, self._began = self._awaiting_head, False
        super().data_received(data)
        if not self._awaiting_head or self.transport.is_closing():
            return
        # The whole chunk belongs to the head only if no message began inside it (a pipelined request may
        # end mid-chunk); a head that began mid-chunk is counted from the next chunk on.
        self._head_bytes += len(data) if waiting and not self._began else 0
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(431, "header_too_large", f"the request line and headers are over {MAX_HEAD_BYTES} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head, self._head_bytes, self._began, self._partial = True, 0, True, True
        if self._head_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._awaiting_head, self._partial = False, False
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._awaiting_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head is late while the request before it is still being answered: writing now
            # would cut into that response, so its deadline starts again once the answer is out.
            self._arm()
            return
        if not self._partial:
            # Connected (or kept alive) and sent nothing of a request: nothing to answer.
            self.transport.close()
            return
        self._refuse(408, "request_timeout", f"the request line and headers took over {self.header_timeout:g} s")

    def _refuse(self, status: int, kind: str, message: str) -> None:
        body = orjson.dumps({"error": kind, "message": f"{message}; send the request at once", "errors": []})
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        self.transport.write(head % (status, reason, len(body)) + body)
        self.transport.close()
        self._disarm()
