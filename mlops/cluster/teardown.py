"""`down`: stop every daemon we started and undo every recorded host change; `--purge` drops the data.

Pods are stopped quickly without losing the workloads: the controller manager and the scheduler stop
first, so deleting the pods with a 1 s grace period recreates nothing now; the next `up` starts them
again from the Deployments, StatefulSets and Jobs still in etcd.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path

from mlops.cluster import host
from mlops.cluster.cluster import Cluster
from mlops.cluster.layout import ClusterError
from mlops.cluster.probe import wait_for
from mlops.cluster.processes import processes_with, stop

log = logging.getLogger(__name__)

PODS_GONE_TIMEOUT_S = 30.0
STOP_ORDER = (
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kube-apiserver",
    "etcd",
    "containerd",
)


def down(cluster: Cluster, purge: bool = False) -> str:
    layout, state, progress = cluster.layout, cluster.state, cluster.progress
    if state.is_clean() and not (purge and layout.state_dir.exists()):
        return "nothing to do: no cluster daemons or host changes are recorded in " + str(layout.state_file)
    running = cluster.running()
    hostpaths = hostpath_volumes(cluster) if purge and "kube-apiserver" in running else []
    netns = sandbox_netns(cluster) if "containerd" in running else []
    if {"kube-apiserver", "kubelet", "containerd"} <= running.keys():
        with progress.step("stop controllers") as step:
            for name in ("kube-controller-manager", "kube-scheduler"):
                _stop(cluster, name)
            step.detail = "controller manager and scheduler stopped: nothing recreates pods"
        with progress.step("delete pods") as step:
            delete_pods(cluster, netns)
            step.detail = f"pods deleted with a 1 s grace period; {len(netns)} sandbox(es) torn down by the kubelet"
    with progress.step("stop daemons") as step:
        stopped, killed = [], 0
        for name in STOP_ORDER:
            if name == "containerd" and "containerd" in cluster.running():
                killed = kill_tasks(cluster)  # what the kubelet did not stop (it was not running, or timed out)
            if _stop(cluster, name):
                stopped.append(name)
        stopped += [name for name in list(state.daemons) if _stop(cluster, name)]
        shims = _kill_shims(cluster)
        leftovers = remove_leftovers(cluster, netns)
        step.detail = f"stopped {', '.join(stopped) or 'nothing (none running)'}"
        step.detail += f"; killed {killed} container(s) and {shims} shim(s)" if killed or shims else ""
        step.detail += f"; removed {leftovers} leftover pod network(s)" if leftovers else ""
    with progress.step("host") as step:
        step.detail = restore_host(cluster)
    if purge:
        with progress.step("purge") as step:
            step.detail = purge_data(cluster, hostpaths)
    else:
        state.save()
    return f"cluster down in {progress.elapsed:.1f}s" + (
        "; data removed" if purge else f"; data kept in {layout.state_dir}"
    )


def _stop(cluster: Cluster, name: str) -> bool:
    record = cluster.state.daemons.get(name)
    if record is None:
        return False
    was_running = stop(record)
    del cluster.state.daemons[name]
    cluster.state.save()
    return was_running


def _ctr(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["ctr", "-a", str(cluster.layout.containerd_socket), "-n", "k8s.io", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def running_tasks(cluster: Cluster) -> list[str]:
    lines = _ctr(cluster, "tasks", "ls").stdout.splitlines()[1:]
    return [line.split()[0] for line in lines if line.split()[-1:] == ["RUNNING"]]


def sandbox_netns(cluster: Cluster) -> list[Path]:
    """The network namespaces of our pod sandboxes (from their OCI specs in our containerd)."""
    found = []
    for sandbox in _ctr(cluster, "containers", "ls", "-q", 'labels."io.cri-containerd.kind"==sandbox').stdout.split():
        try:
            spec = json.loads(_ctr(cluster, "containers", "info", sandbox).stdout).get("Spec") or {}
        except ValueError:
            continue
        for namespace in spec.get("linux", {}).get("namespaces", []):
            if namespace.get("type") == "network" and Path(namespace.get("path") or "/nonexistent").exists():
                found.append(Path(namespace["path"]))
    return found


def pods_settled(cluster: Cluster, netns: list[Path]) -> bool:
    """The kubelet finished: no container runs, sandbox networks are torn down, pods are gone from the API
    (except those held by finalizers, whose controllers are stopped)."""
    if running_tasks(cluster) or any(path.exists() for path in netns):
        return False
    pods = (cluster.kubectl().get(["pods", "--all-namespaces"]) or {}).get("items", [])
    return all(pod["metadata"].get("finalizers") for pod in pods)


def delete_pods(cluster: Cluster, netns: list[Path]) -> None:
    """Delete every pod with a 1 s grace period and wait for the kubelet to tear them down."""
    proc = cluster.kubectl().run(["delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=false"])
    if proc.returncode != 0:
        log.warning("deleting pods failed: %s", proc.stderr.strip())
    try:
        wait_for(lambda: pods_settled(cluster, netns), "pods stopping", PODS_GONE_TIMEOUT_S, interval=0.3)
    except ClusterError:
        log.warning("pods still terminating after %.0fs: stopping the daemons anyway", PODS_GONE_TIMEOUT_S)


def kill_tasks(cluster: Cluster) -> int:
    """SIGKILL every container still running in our containerd: killing a shim would orphan its processes."""
    tasks = running_tasks(cluster)
    for task in tasks:
        _ctr(cluster, "tasks", "kill", "--all", "--signal", "SIGKILL", task)
    with contextlib.suppress(ClusterError):
        wait_for(lambda: not running_tasks(cluster), "containers exiting", 10.0)
    return len(tasks)


def remove_leftovers(cluster: Cluster, netns: list[Path]) -> int:
    """Unmount what the kubelet and containerd left under our directories, and sandbox namespaces."""
    left = [path for path in netns if path.exists()]
    for path in left:
        subprocess.run(["umount", str(path)], capture_output=True, check=False, timeout=30)
        path.unlink(missing_ok=True)
    _unmount_under(cluster.layout.state_dir, cluster.layout.run_dir)
    return len(left)


def _kill_shims(cluster: Cluster) -> int:
    """containerd's shims outlive it; ours name our socket on their command line."""
    killed = 0
    for pid in processes_with(str(cluster.layout.containerd_socket)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def restore_host(cluster: Cluster) -> str:
    record, run, state = cluster.state.host, host.run_command, cluster.state
    kube_proxy = cluster.tools.binaries.get("kube-proxy") if _has_tools(cluster) else None
    if kube_proxy is not None and record.chains_before:
        run([str(kube_proxy), "--cleanup"])
    host.remove_rules(record, run)
    state.save()
    removed = host.remove_new_chains(record, run)
    state.save()
    host.remove_bridge(record, run)
    failed = host.restore_sysctls(record)
    host.unload_modules(record, run)
    state.save()
    _remove_kubepods_cgroups()
    if failed:
        raise ClusterError(f"could not restore sysctls {', '.join(failed)}", f"values are kept in {state.path}")
    return f"rules, {len(removed)} chain(s), bridge and sysctls restored"


def _has_tools(cluster: Cluster) -> bool:
    try:
        cluster.tools  # noqa: B018
    except ClusterError:
        return False
    return True


def _remove_kubepods_cgroups(root: Path = Path("/sys/fs/cgroup")) -> None:
    """Empty cgroups the kubelet made (cgroupfs driver); rmdir refuses non-empty ones, which stay."""
    for top in [*root.glob("*/kubepods"), root / "kubepods"]:
        if not top.is_dir():
            continue
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _unmount_under(*roots: Path) -> None:
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()]
    ours = [m for m in mounts if any(m == str(r) or m.startswith(f"{r}/") for r in roots)]
    for mount in sorted(ours, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False, timeout=30)


def hostpath_volumes(cluster: Cluster) -> list[Path]:
    """Directories the host-path provisioner made for this cluster's volumes (outside the state dir)."""
    found = cluster.kubectl().get(["pv"]) or {}
    paths = [item.get("spec", {}).get("hostPath", {}).get("path", "") for item in found.get("items", [])]
    return [Path(p) for p in paths if p.startswith("/tmp/hostpath-provisioner/")]


def purge_data(cluster: Cluster, hostpaths: list[Path]) -> str:
    layout = cluster.layout
    _unmount_under(layout.state_dir, layout.run_dir)
    for directory in (layout.state_dir, layout.run_dir, *hostpaths):
        shutil.rmtree(directory, ignore_errors=True)
    extra = f" and {len(hostpaths)} host-path volume(s)" if hostpaths else ""
    return f"removed {layout.state_dir}, {layout.run_dir}{extra}"
