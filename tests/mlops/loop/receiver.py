"""A webhook receiver on 127.0.0.1 that checks the signature as a real receiver would, for the loop tests.

It answers each POST with the next status of `script` (then 200), or sleeps `delay_s` first; it records
every delivery with whether its signature verified under `secret`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback_http import posts_answered_by

SIGNATURE_HEADER = "X-Mlops-Signature-256"


def no_sleep(_seconds: float) -> None:
    """The backoff between attempts, skipped: the tests count attempts, not wait for them."""


@dataclass
class Received:
    body: bytes
    signature: str | None
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    secret: str
    script: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)


def _verified(body: bytes, secret: str, header: str | None) -> bool:
    """Independent of `ml.promote.webhook`: the HMAC-SHA256 a receiver computes from the documented scheme."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


@contextmanager
def webhook_receiver(secret: str, script: list[int] | None = None, delay_s: float = 0.0) -> Iterator[Receiver]:
    state = Receiver("", secret, list(script or []), delay_s)

    def answer(path: str, headers: dict[str, str], body: bytes) -> int:
        signature = headers.get(SIGNATURE_HEADER.lower())
        state.received.append(Received(body, signature, _verified(body, state.secret, signature)))
        if state.delay_s:
            time.sleep(state.delay_s)
        status = state.script.pop(0) if state.script else 200
        if status == 200 and not state.received[-1].verified:
            status = 401
        return status

    with posts_answered_by(answer) as base:
        state.url = f"{base}/hooks/mlops"
        yield state
