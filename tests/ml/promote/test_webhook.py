"""The webhook delivery against a real HTTP server on 127.0.0.1 that checks the signature: signed body,
bounded retries, a timeout per attempt, and failures reported instead of raised."""

from __future__ import annotations

import hashlib
import hmac
import time

from ml.promote.webhook import SIGNATURE_HEADER, deliver, sign, verify
from tests.mlops.loop.receiver import no_sleep, webhook_receiver

BODY = b'{"kind": "promotion-request", "model": "m", "version": "2"}'
SECRET = "s3cret-for-tests"


def test_the_signature_is_hmac_sha256_of_the_exact_body_in_github_form() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET) == f"sha256={expected}"
    assert verify(BODY, SECRET, f"sha256={expected}")
    assert not verify(BODY + b" ", SECRET, f"sha256={expected}")
    assert not verify(BODY, "other", f"sha256={expected}")
    assert not verify(BODY, SECRET, None)
    assert SIGNATURE_HEADER == "X-Mlops-Signature-256"


def test_a_delivery_reaches_the_receiver_signed() -> None:
    with webhook_receiver(SECRET) as receiver:
        delivery = deliver(receiver.url, BODY, SECRET, sleep=no_sleep)
    assert delivery.delivered and delivery.attempts == 1
    assert "HTTP 200" in delivery.detail
    [received] = receiver.received
    assert received.body == BODY and received.verified


def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried() -> None:
    with webhook_receiver(SECRET) as receiver:
        delivery = deliver(receiver.url, BODY, "not-the-secret", attempts=3, sleep=no_sleep)
    assert not delivery.delivered
    assert delivery.attempts == 1 and "HTTP 401" in delivery.detail
    assert [r.verified for r in receiver.received] == [False]


def test_server_errors_are_retried_until_the_receiver_takes_it() -> None:
    waits: list[float] = []
    with webhook_receiver(SECRET, script=[500, 503]) as receiver:
        delivery = deliver(receiver.url, BODY, SECRET, attempts=3, sleep=waits.append)
    assert delivery.delivered and delivery.attempts == 3
    assert len(receiver.received) == 3 and all(r.verified for r in receiver.received)
    assert waits == [0.5, 1.0]  # backoff between attempts, none after the last


def test_retries_are_bounded_and_the_last_failure_is_reported() -> None:
    with webhook_receiver(SECRET, script=[500, 500, 500, 500]) as receiver:
        delivery = deliver(receiver.url, BODY, SECRET, attempts=2, sleep=no_sleep)
    assert not delivery.delivered and delivery.attempts == 2
    assert len(receiver.received) == 2
    assert delivery.detail == f"HTTP 500 from {receiver.url} after 2 attempt(s)"


def test_each_attempt_is_bounded_by_the_timeout() -> None:
    with webhook_receiver(SECRET, delay_s=2.0) as receiver:
        started = time.monotonic()
        delivery = deliver(receiver.url, BODY, SECRET, attempts=2, timeout_s=0.3, sleep=no_sleep)
        took = time.monotonic() - started
    assert not delivery.delivered and delivery.attempts == 2
    assert "timed out" in delivery.detail.lower()
    assert took < 1.5  # two attempts of 0.3 s, not two of the receiver's 2 s


def test_nobody_listening_is_a_failed_delivery_not_an_exception() -> None:
    with webhook_receiver(SECRET) as receiver:
        url = receiver.url
    delivery = deliver(url, BODY, SECRET, attempts=2, timeout_s=1, sleep=no_sleep)
    assert not delivery.delivered and delivery.attempts == 2
    assert "refused" in delivery.detail.lower() and url in delivery.detail
