"""The promotion lease on a real tracking server: one holder at a time, named to whoever is refused."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from ml.promote import lease

pytestmark = pytest.mark.integration


def _env() -> str:
    return f"lease-{uuid.uuid4().hex[:8]}"


def test_claimants_racing_for_one_environment_get_one_holder(mlflow_server):
    env, racers = _env(), 4
    barrier = threading.Barrier(racers)
    leases = [lease.Lease(mlflow_server, env, f"p{i}") for i in range(racers)]
    blockers: dict[int, lease.Claim | None] = {}

    def race(i: int) -> None:
        barrier.wait()
        blockers[i] = leases[i].try_acquire()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        winners = [i for i, blocker in blockers.items() if blocker is None]
        assert len(winners) == 1, blockers
        assert len(blockers) == racers
        [held] = [c for c in leases[0].live_claims()]
        assert held.promotion_id == f"p{winners[0]}" and held.state == "held"
    finally:
        for one in leases:
            one.release()


def test_refusal_names_the_holder_and_waiting_gets_the_lease(mlflow_server):
    env = _env()
    with lease.holding(mlflow_server, env, "first") as held:
        held.check()
        with pytest.raises(lease.LeaseHeld, match="promotion first") as refused:
            lease.holding(mlflow_server, env, "second").__enter__()
        assert refused.value.promotion_id == "first"
        releaser = threading.Timer(1.0, held.release)
        releaser.start()
        with lease.holding(mlflow_server, env, "second", wait_s=60) as second:
            second.check()
        releaser.join()
    with pytest.raises(lease.LeaseLost):
        held.check()


def test_an_expired_lease_frees_the_environment(mlflow_server):
    env = _env()
    dead = lease.Lease(mlflow_server, env, "dead", ttl_s=2.0)
    assert dead.try_acquire() is None
    dead._stop.set()  # the holder died: no more heartbeats
    time.sleep(2.5)
    with pytest.raises(lease.LeaseLost):
        dead.check()
    with lease.holding(mlflow_server, env, "next") as taken:
        taken.check()
