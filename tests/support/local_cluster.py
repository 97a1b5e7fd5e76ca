"""A real local cluster of a test's own: why one cannot run here, and one that is up for the length of a `with`.

The cluster runs under state and run directories named after the test (never `mlops cluster up`'s own), and
goes down with `--purge` however the `with` ends. Only one cluster of ours can run on a machine at a time
(they share the bridge and the control plane's ports), so a test skips, saying why, when another one runs.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops.cluster.cluster import Cluster


def skip_reason() -> str | None:
    """Why a cluster of the tests' own cannot run here (None: it can)."""
    from mlops.cluster.layout import ClusterError, Layout, Toolchain
    from mlops.cluster.preflight import listening, port_conflicts
    from mlops.cluster.processes import alive
    from mlops.cluster.state import State

    if os.geteuid() != 0:
        return "the local cluster needs root"
    try:
        Toolchain.load()
    except ClusterError as exc:
        return f"the cluster toolchain is not built: {exc.problem}"
    users = State.load(Layout().state_file)
    if any(alive(r) for r in users.daemons.values()):
        return f"a cluster the user started is running ({users.path}); these tests only use a cluster of their own"
    conflicts = port_conflicts(Layout().listeners(), listening())
    if conflicts:
        return "the cluster's ports are taken: " + "; ".join(conflicts)
    if subprocess.run(["ip", "link", "show", Layout().network.bridge], capture_output=True).returncode == 0:
        return f"the bridge {Layout().network.bridge} exists: another cluster of ours is up"
    return None


def free_node_ports(count: int, first: int = 31000) -> list[int]:
    """`count` node ports nothing on this machine listens on (a NodePort answers on 127.0.0.1 too)."""
    from mlops.cluster.preflight import listening

    taken = {port for _address, port in listening()}
    return [port for port in range(first, 32767) if port not in taken][:count]


@contextmanager
def own_cluster(name: str, steps: list[str] | None = None) -> Iterator[Cluster]:
    """A cluster under /var/lib/<name> and /run/<name>, up; down (purged) when the block ends, whatever happened.
    Each lifecycle step is appended to `steps` with its duration."""
    from mlops.cluster.cluster import Cluster
    from mlops.cluster.layout import Layout
    from mlops.cluster.lifecycle import up
    from mlops.cluster.teardown import down

    layout = Layout(state_dir=Path("/var/lib") / name, run_dir=Path("/run") / name)
    cluster = Cluster(layout=layout)
    if steps is not None:
        cluster.progress.report = lambda step, detail, seconds: steps.append(f"{step:<18} {seconds:5.1f}s {detail}")
    try:
        up(cluster)
        yield cluster
    finally:
        down(Cluster(layout=layout), purge=True)


@dataclass
class PodWatch:
    """Every pod seen in `namespace` while the watch runs, by name: its spec and last status."""

    kubectl: Any
    namespace: str
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PodWatch:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _poll(self) -> None:
        while not self._stop.is_set():
            found = self.kubectl.get(["-n", self.namespace, "pods"]) or {}
            for pod in found.get("items", []):
                self.pods[pod["metadata"]["name"]] = pod
            self._stop.wait(0.5)

    def images(self) -> set[str]:
        return {c["image"] for pod in self.pods.values() for c in pod["spec"]["containers"]}

    def pulled(self) -> dict[str, str]:
        """Image reference -> the image ID the runtime reports for it (set once a container started)."""
        return {
            status["image"]: status.get("imageID", "")
            for pod in self.pods.values()
            for status in pod.get("status", {}).get("containerStatuses", [])
        }

    def running_spans(self) -> list[tuple[datetime, datetime]]:
        """(started, finished) of every container that ran to its end while watched, in start order."""
        spans = []
        for pod in self.pods.values():
            for status in pod.get("status", {}).get("containerStatuses", []):
                ended = (status.get("state") or {}).get("terminated") or {}
                if ended.get("startedAt") and ended.get("finishedAt"):
                    spans.append((_k8s_time(ended["startedAt"]), _k8s_time(ended["finishedAt"])))
        return sorted(spans)


def _k8s_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
