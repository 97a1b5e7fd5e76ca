"""One promotion at a time per target environment: a lease kept in the target's own tracking server.

The operator machines that promote share nothing but that server, so the lock lives there: each claim is
a run in the experiment `mlops-promotion-leases` with the environment, the holder, the promotion id and
an expiry (tags). MLflow has no compare-and-set, so a claim is taken in two steps: write the claim, then
read every live claim on the environment. A claimant wins only if it sees **no claim but its own**.

Why that is safe without a CAS or synchronised clocks: the tracking server's database orders every write
and read. If two claimants A and B both saw only themselves, A's read came before B's write and B's read
before A's write; with each write before its own read, that is a cycle, which cannot happen. So at most
one wins. Two claimants that see each other both withdraw and retry after a random pause; a claim that
has already won is marked `held`, and a claimant that sees a held claim gives up (or waits) at once.

The expiry is what frees the lease of a holder that died: a heartbeat thread pushes it forward while the
promotion runs, and `check()` (called before each step) stops a holder whose lease lapsed, e.g. after the
machine slept. Expiries are compared across machines, so their clocks must agree to well within the TTL.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ml.promote.audit import actor, experiment_id

log = logging.getLogger(__name__)

EXPERIMENT = "mlops-promotion-leases"
TTL_S = 120.0
CONTENTION_ATTEMPTS = 8

TAG_ENV = "lease.env"
TAG_HOLDER = "lease.holder"
TAG_PROMOTION = "lease.promotion_id"
TAG_EXPIRES = "lease.expires"
TAG_STATE = "lease.state"  # claimed | held | released


class LeaseHeld(RuntimeError):
    """Another promotion holds the target environment."""

    def __init__(self, env: str, holder: str, promotion_id: str, expires: float) -> None:
        left = max(0, int(expires - time.time()))
        super().__init__(
            f"{env} is being promoted by {holder} (promotion {promotion_id}, lease expires in {left} s): "
            "wait for it (--wait SECONDS) or, if that promotion died, run `mlops promote --recover --env "
            f"{env}` once the lease has expired"
        )
        self.holder, self.promotion_id = holder, promotion_id


class LeaseLost(RuntimeError):
    """This promotion's lease expired or was released under it: it must not change anything more."""


@dataclass(frozen=True)
class Claim:
    run_id: str
    holder: str
    promotion_id: str
    expires: float
    state: str


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


class Lease:
    """The lease of one target environment for one promotion; use `acquire` to take it."""

    def __init__(self, tracking_uri: str, env: str, promotion_id: str, ttl_s: float = TTL_S) -> None:
        self.tracking_uri, self.env, self.promotion_id, self.ttl_s = tracking_uri, env, promotion_id, ttl_s
        self.holder = actor()
        self.run_id = ""
        self._client = _client(tracking_uri)
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def live_claims(self) -> list[Claim]:
        from mlflow.entities import ViewType

        runs = self._client.search_runs(
            [experiment_id(self._client, EXPERIMENT)],
            filter_string=f"tags.`{TAG_ENV}` = '{self.env}' and attributes.status = 'RUNNING'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=100,
        )
        now = time.time()
        claims = []
        for run in runs:
            tag = run.data.tags.get
            claim = Claim(
                run.info.run_id,
                tag(TAG_HOLDER, "?"),
                tag(TAG_PROMOTION, "?"),
                float(tag(TAG_EXPIRES, "0")),
                tag(TAG_STATE, "claimed"),
            )
            if claim.state != "released" and claim.expires > now:
                claims.append(claim)
        return claims

    def _claim(self) -> None:
        run = self._client.create_run(
            experiment_id(self._client, EXPERIMENT),
            run_name=f"lease {self.env} {self.promotion_id}",
            tags={
                TAG_ENV: self.env,
                TAG_HOLDER: self.holder,
                TAG_PROMOTION: self.promotion_id,
                TAG_EXPIRES: f"{time.time() + self.ttl_s:.3f}",
                TAG_STATE: "claimed",
            },
        )
        self.run_id = run.info.run_id

    def _withdraw(self) -> None:
        if self.run_id:
            self._client.set_tag(self.run_id, TAG_STATE, "released")
            self._client.set_terminated(self.run_id, "KILLED")
            self.run_id = ""

    def try_acquire(self) -> Claim | None:
        """Take the lease; `None` when taken, else the claim that stands in the way."""
        for attempt in range(CONTENTION_ATTEMPTS):
            self._claim()
            others = [c for c in self.live_claims() if c.run_id != self.run_id]
            if not others:
                self._client.set_tag(self.run_id, TAG_STATE, "held")
                self._start_heartbeat()
                return None
            self._withdraw()
            held = [c for c in others if c.state == "held"]
            if held or attempt == CONTENTION_ATTEMPTS - 1:
                return (held or others)[0]
            time.sleep(random.uniform(0.05, 0.5) * (attempt + 1))
        raise AssertionError("unreachable")

    def acquire(self, wait_s: float = 0.0) -> None:
        """Take the lease, waiting up to `wait_s` for the holder; `LeaseHeld` names who holds it."""
        deadline = time.monotonic() + wait_s
        while True:
            blocker = self.try_acquire()
            if blocker is None:
                return
            if time.monotonic() >= deadline:
                raise LeaseHeld(self.env, blocker.holder, blocker.promotion_id, blocker.expires)
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))

    def check(self) -> None:
        """Raise `LeaseLost` unless this lease is still held and unexpired."""
        if not self.run_id:
            raise LeaseLost(f"promotion {self.promotion_id} does not hold the lease of {self.env}")
        tags = self._client.get_run(self.run_id).data.tags
        if tags.get(TAG_STATE) != "held" or float(tags.get(TAG_EXPIRES, "0")) <= time.time():
            raise LeaseLost(
                f"the lease of {self.env} for promotion {self.promotion_id} lapsed; another promotion may run "
                f"now: stopping here, `mlops promote --recover --env {self.env}` settles this one"
            )

    def release(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=10)
        try:
            self._withdraw()
        except Exception as exc:  # never hide the promotion's own error; the lease expires anyway
            log.warning("could not release the lease of %s (%s): it expires within %.0f s", self.env, exc, self.ttl_s)

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(self.ttl_s / 4):
                try:
                    self._client.set_tag(self.run_id, TAG_EXPIRES, f"{time.time() + self.ttl_s:.3f}")
                except Exception:  # a missed beat is retried; check() catches a lapse
                    continue

        self._stop.clear()
        self._heartbeat = threading.Thread(target=beat, name=f"lease-{self.env}", daemon=True)
        self._heartbeat.start()


@contextmanager
def holding(tracking_uri: str, env: str, promotion_id: str | None = None, wait_s: float = 0.0) -> Iterator[Lease]:
    """The lease of `env` for the block; released on the way out, whatever happens inside."""
    lease = Lease(tracking_uri, env, promotion_id or uuid.uuid4().hex[:12])
    lease.acquire(wait_s)
    try:
        yield lease
    finally:
        lease.release()
