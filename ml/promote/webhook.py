"""Announce a promotion request: POST its JSON to the stack's webhook, signed, with bounded retries.

The body is signed with HMAC-SHA256 under the stack's `mlops:monitoring.webhookSecret`, in the header
`X-Mlops-Signature-256: sha256=<hex>` (the scheme GitHub's webhooks use), so the receiver can check that the
request came from this platform and was not altered. A delivery that fails after its attempts is reported,
never raised: the request stays pending on the tracking server and nothing is lost.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Mlops-Signature-256"
EVENT_HEADER = "X-Mlops-Event"
EVENT = "promotion-request"
BACKOFF_S = 0.5


def sign(body: bytes, secret: str) -> str:
    """The header value: `sha256=` and the hex HMAC-SHA256 of exactly the bytes sent."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    detail: str
    """The receiver's status on success, else the last failure (status or error) and the URL."""


def deliver(
    url: str,
    body: bytes,
    secret: str,
    *,
    attempts: int = 3,
    timeout_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `body`, signed, until a 2xx answer, at most `attempts` times, each bounded by `timeout_s`."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret), EVENT_HEADER: EVENT}
    return post(url, body, headers, attempts=attempts, timeout_s=timeout_s, sleep=sleep)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    attempts: int,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    shown_as: str = "",
) -> Delivery:
    """POST until a 2xx answer, at most `attempts` times, backing off between them; `shown_as` names the URL in
    the detail instead of the URL itself. A 4xx other than 408/429 is not retried: the receiver refused this body
    and will again."""
    where = shown_as or url
    last = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return Delivery(True, attempt, f"HTTP {response.status} from {where}")
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} from {where}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                return Delivery(False, attempt, last)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last = f"{type(exc).__name__} ({reason}) posting to {where}"
        if attempt < attempts:
            sleep(BACKOFF_S * 2 ** (attempt - 1))
    return Delivery(False, attempts, f"{last} after {attempts} attempt(s)")
