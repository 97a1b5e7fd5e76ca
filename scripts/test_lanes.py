"""`make test`: the whole suite as two pytest processes side by side.

The tests marked `cluster` bring up a real local Kubernetes cluster of their own (one at a time: they share
the bridge and the control plane's ports) and spend most of their forty minutes waiting on pods and
rollouts; everything else runs on the Docker engine meanwhile. The docker lane prints to the terminal as it
goes; the cluster lane writes to a log file (its path is printed first), which is printed whole when both are
done. The exit status is the docker lane's failure, else the cluster lane's (a lane the arguments select no
test of counts as passed, unless neither has one). Arguments are given to both pytest processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LANES = {"docker": "not cluster", "cluster": "cluster"}
NO_TESTS = 5
"""pytest's exit status when it collected nothing: a lane the given arguments select no test of."""


def _command(marker: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-m", marker, *extra]


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def main(extra: list[str]) -> int:
    started = time.monotonic()
    log = Path(tempfile.gettempdir()) / f"mlops-test-lane-cluster-{os.getpid()}.log"
    print(f"cluster lane ({LANES['cluster']!r}) writes to {log}; docker lane ({LANES['docker']!r}) follows", flush=True)
    with log.open("w") as out:
        cluster = subprocess.Popen(_command(LANES["cluster"], extra), stdout=out, stderr=subprocess.STDOUT)
        docker = subprocess.Popen(_command(LANES["docker"], extra))
        # Ctrl-C reaches both pytest processes (same process group): they run their teardowns (a cluster goes
        # down purged) and exit; this process waits for them instead of leaving them behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        docker_code = docker.wait()
        docker_seconds = time.monotonic() - started
        if cluster.poll() is None:
            print(f"\ndocker lane done in {_minutes(docker_seconds)}; waiting for the cluster lane", flush=True)
        cluster_code = cluster.wait()
    cluster_seconds = time.monotonic() - started
    print(f"\n{'=' * 30} cluster lane ({log}) {'=' * 30}", flush=True)
    sys.stdout.write(log.read_text(errors="replace"))
    print(
        f"\ndocker lane: exit {docker_code} after {_minutes(docker_seconds)}; "
        f"cluster lane: exit {cluster_code} after {_minutes(cluster_seconds)}",
        flush=True,
    )
    codes = [docker_code, cluster_code]
    if codes == [NO_TESTS, NO_TESTS]:
        return NO_TESTS
    return next((code for code in codes if code not in (0, NO_TESTS)), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
