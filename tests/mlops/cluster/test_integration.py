"""A real cluster: up, a pod and a Deployment on it, DNS, a PVC, then down and the host as it was.

It runs under state and run directories of its own and never touches a cluster it did not create:
when a cluster of the user's is up (or its ports are taken) it skips and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.cluster import host
from mlops.cluster.cluster import Cluster
from mlops.cluster.layout import ClusterError, Layout, Toolchain
from mlops.cluster.lifecycle import up
from mlops.cluster.preflight import listening, port_conflicts
from mlops.cluster.probe import wait_for
from mlops.cluster.processes import alive, processes_with
from mlops.cluster.state import State
from mlops.cluster.status import status
from mlops.cluster.teardown import down

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

BASE_IMAGE = "mlops-base:bookworm-py311"
NAMESPACE = "cluster-it"


def _skip_reason(layout: Layout) -> str | None:
    if os.geteuid() != 0:
        return "the local cluster needs root"
    try:
        Toolchain.load()
    except ClusterError as exc:
        return f"the cluster toolchain is not built: {exc.problem}"
    users = State.load(Layout().state_file)
    if any(alive(r) for r in users.daemons.values()):
        return f"a cluster the user started is running ({users.path}); this test only uses a cluster of its own"
    conflicts = port_conflicts(layout.listeners(), listening())
    if conflicts:
        return "the cluster's ports are taken: " + "; ".join(conflicts)
    if subprocess.run(["ip", "link", "show", layout.network.bridge], capture_output=True).returncode == 0:
        return f"the bridge {layout.network.bridge} exists: another cluster of ours is up"
    return None


def _host_snapshot() -> dict[str, object]:
    """What the cluster may change, restricted to what is ours: Docker edits its own rules meanwhile."""
    sysctls = {}
    for name in [*host.SYSCTLS_WE_SET, *host.SYSCTLS_THEY_SET]:
        path = host.sysctl_path(name, Path("/proc/sys"))
        sysctls[name] = path.read_text().strip() if path.exists() else None
    chains = {
        f"{family}/{table}": sorted(
            c for c in host.chains(table, host.run_command, family) if c.startswith(("KUBE-", "CNI-"))
        )
        for family in host.FAMILIES
        for table in host.TABLES
    }
    forward = host.run_command(["iptables", "-w", "-S", "FORWARD"]).stdout.splitlines()
    ours = [r for r in forward if host.RULE_TAG in r or "KUBE-" in r or "CNI-" in r]
    links = host.run_command(["ip", "-o", "link", "show"]).stdout
    return {"sysctls": sysctls, "chains": chains, "forward": ours, "bridge": "mlops0" in links}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    name = f"mlops-cluster-it-{os.getpid()}"
    layout = Layout(state_dir=Path("/var/lib") / name, run_dir=Path("/run") / name)
    reason = _skip_reason(layout)
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    steps: list[str] = []
    made = Cluster(layout=layout)
    made.progress.report = lambda step, detail, seconds: steps.append(f"{step:<18} {seconds:5.1f}s {detail}")
    try:
        yield made
    finally:
        print("\n".join(steps))
        if not made.state.is_clean() or layout.state_dir.exists():
            down(Cluster(layout=layout), purge=True)


def _apply(cluster: Cluster, objects: list[dict]) -> None:
    cluster.kubectl().checked(
        ["apply", "-f", "-"], stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )


def _workload(image: str, command: list[str]) -> list[dict]:
    labels = {"app": "probe"}
    container = {"name": "probe", "image": image, "imagePullPolicy": "Never", "command": command}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "probe", "namespace": NAMESPACE},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": NAMESPACE},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Mi"}}},
        },
    ]


def test_cluster_up_runs_pods_and_down_restores_the_host(cluster: Cluster) -> None:
    before = _host_snapshot()
    started = time.monotonic()
    message = up(cluster)
    up_seconds = time.monotonic() - started
    assert "cluster up" in message
    kubectl = cluster.kubectl()
    assert kubectl.node_ready(cluster.layout.node_name)
    assert "already up and healthy" in up(cluster)

    has_base = (
        shutil.which("docker")
        and subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode == 0
    )
    if has_base:
        save = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE)
        ctr = ["ctr", "-a", str(cluster.layout.containerd_socket), "-n", "k8s.io", "images", "import", "-"]
        subprocess.run(ctr, stdin=save.stdout, check=True, capture_output=True, timeout=300)
        assert save.wait() == 0
        image = f"docker.io/library/{BASE_IMAGE}"
        command = [
            "python3",
            "-c",
            "import socket, time; print(socket.gethostbyname('kubernetes.default.svc.cluster.local'), flush=True); "
            "time.sleep(3600)",
        ]
    else:
        print(f"no {BASE_IMAGE} in Docker: the pods run the pause image")
        image, command = cluster.tools.images["pause"][0], ["/pause"]
    _apply(cluster, _workload(image, command))
    wait_for(lambda: kubectl.deployment_available(NAMESPACE, "probe"), "the probe Deployment", 120)
    if has_base:
        logs = kubectl.checked(["-n", NAMESPACE, "logs", "deployment/probe"])
        assert logs.strip() == "10.96.0.1"  # a pod resolved the API's Service through the cluster's DNS
    wait_for(
        lambda: (kubectl.get(["-n", NAMESPACE, "pvc", "data"]) or {}).get("status", {}).get("phase") == "Bound",
        "the PVC",
        60,
    )
    report = status(cluster)
    assert report["running"] and report["node_ready"] and report["dns"]
    print(f"up {up_seconds:.1f}s; memory {report['memory_mib']}")

    started = time.monotonic()
    down(cluster, purge=True)
    print(f"down --purge {time.monotonic() - started:.1f}s")
    assert not cluster.layout.state_dir.exists()
    assert not list(processes_with(str(cluster.layout.containerd_socket)))
    assert _host_snapshot() == before
