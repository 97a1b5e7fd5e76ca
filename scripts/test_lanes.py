"""`make test`: the whole suite as three pytest runs, two of them side by side.

The tests marked `cluster` bring up a real local Kubernetes cluster of their own (one at a time: they share
the bridge and the control plane's ports) and took 26 minutes in a fresh-clone CI run. Beside them run, in one process,
the unit tests and the integration tests, Docker's included, but for those `tests/conftest.py` marks `alone`:
the e2e and fault tests that stand up whole docker environments or restart the engine. Those run last, alone:
beside the cluster's image imports and rollouts on a 2-core machine they ran two to three times slower
(pytest-timeout stopped them).

The tests beside the cluster and the last run print to the terminal as they go; the cluster run writes to a
log file (its path is printed first), which is printed whole before the last run starts. The exit status is the
first failure's, in the order cluster, beside, alone (a run the arguments select no test of counts as passed,
unless none has one). Arguments are given to every pytest run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLUSTER = "cluster"
BESIDE = "not cluster and not alone"
ALONE = "not cluster and alone"
INTERRUPTED, NO_TESTS = 2, 5
"""pytest's exit status when it collected nothing: a run the given arguments select no test of."""


def _command(marker: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-m", marker, *extra]


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def wait_for_the_runs_on_interrupt() -> None:
    """Ctrl-C does not stop this process, and does stop its children: a handler of our own, not SIG_IGN, which
    every child would inherit (Python then never raises KeyboardInterrupt, and each test of Ctrl-C fails)."""
    signal.signal(signal.SIGINT, lambda _signum, _frame: None)


def main(extra: list[str]) -> int:
    started = time.monotonic()
    log = Path(tempfile.gettempdir()) / f"mlops-test-lane-cluster-{os.getpid()}.log"
    print(f"cluster tests ({CLUSTER!r}) write to {log}; the tests {BESIDE!r} run beside them", flush=True)
    # Ctrl-C reaches every pytest run (same process group): each runs its teardowns (a cluster goes down purged)
    # and exits; this process waits for them instead of leaving them behind, and starts nothing after.
    wait_for_the_runs_on_interrupt()
    with log.open("w") as out:
        cluster = subprocess.Popen(_command(CLUSTER, extra), stdout=out, stderr=subprocess.STDOUT)
        beside_code = subprocess.Popen(_command(BESIDE, extra)).wait()
        print(
            f"\nthe tests beside them done after {_minutes(time.monotonic() - started)}; waiting for the cluster tests",
            flush=True,
        )
        cluster_code = cluster.wait()
    cluster_seconds = time.monotonic() - started
    print(f"\n{'=' * 30} cluster tests ({log}) {'=' * 30}", flush=True)
    sys.stdout.write(log.read_text(errors="replace"))
    print(f"\ncluster tests: exit {cluster_code} after {_minutes(cluster_seconds)}", flush=True)
    codes = [cluster_code, beside_code]
    if INTERRUPTED not in codes:
        print(f"\n{'=' * 30} the tests run alone ({ALONE!r}) {'=' * 30}", flush=True)
        codes.append(subprocess.Popen(_command(ALONE, extra)).wait())
    print(
        f"\nexit codes (cluster, beside them, alone): {codes}; {_minutes(time.monotonic() - started)} in all",
        flush=True,
    )
    if all(code == NO_TESTS for code in codes):
        return NO_TESTS
    return next((code for code in codes if code not in (0, NO_TESTS)), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
