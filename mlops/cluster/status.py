"""`status`: what runs, whether it answers, and what the host still carries of ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.cluster.cluster import Cluster
from mlops.cluster.layout import ClusterError
from mlops.cluster.probe import healthy
from mlops.cluster.processes import alive, processes_with, rss_kib


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text(encoding="utf-8").split()
        except OSError:
            continue
        found += map(int, children)
        todo += map(int, children)
    return found


def status(cluster: Cluster) -> dict[str, Any]:
    layout, state = cluster.layout, cluster.state
    try:
        specs = (
            {s.name: s for s in cluster.specs(Path(state.daemons["containerd"].exe))}
            if "containerd" in state.daemons
            else {}
        )
        tools_error = ""
    except ClusterError as exc:
        specs, tools_error = {}, exc.problem
    daemons: dict[str, Any] = {}
    for name, record in state.daemons.items():
        running = alive(record)
        daemons[name] = {
            "pid": record.pid,
            "running": running,
            "healthy": bool(running and name in specs and healthy(specs[name].health)),
            "rss_mib": round(rss_kib(record.pid) / 1024, 1) if running else 0,
            "log": record.log,
        }
    pods_pids = [p for shim in processes_with(str(layout.containerd_socket)) for p in [shim, *descendants(shim)]]
    pods_rss = sum(rss_kib(p) for p in set(pods_pids)) / 1024
    api_up = daemons.get("kube-apiserver", {}).get("healthy", False)
    return {
        "state_dir": str(layout.state_dir),
        "kubeconfig": str(layout.admin_kubeconfig),
        "api_server": layout.apiserver_url,
        "running": bool(daemons) and all(d["running"] for d in daemons.values()),
        "daemons": daemons,
        "node_ready": cluster.kubectl().node_ready(layout.node_name) if api_up else None,
        "dns": cluster.dns_answers() if api_up else None,
        "memory_mib": {
            "daemons": round(sum(d["rss_mib"] for d in daemons.values()), 1),
            "pods_and_shims": round(pods_rss, 1),
        },
        "host_changes": {
            "sysctls": state.host.sysctls,
            "modules": state.host.modules,
            "iptables_rules": [" ".join(r) for r in state.host.iptables],
            "bridge": state.host.bridge,
        },
        "listeners": {name: f"{a}:{p}" for name, (a, p) in layout.listeners().items()},
        "problem": tools_error,
    }


def summary(report: dict[str, Any]) -> list[str]:
    """Human lines for `mlops cluster status`."""
    if not report["daemons"]:
        pending = any(report["host_changes"].values())
        return ["cluster: not running" + (" (host changes recorded: run `mlops cluster down`)" if pending else "")]
    lines = [f"cluster: {'running' if report['running'] else 'partly running'} (state in {report['state_dir']})"]
    for name, d in report["daemons"].items():
        health = "healthy" if d["healthy"] else ("running, not answering" if d["running"] else "stopped")
        lines.append(f"  {name:<24} pid {d['pid']:<8} {health:<24} {d['rss_mib']:>7.1f} MiB")
    if report["node_ready"] is not None:
        lines.append(f"  node Ready: {report['node_ready']}; DNS: {'answers' if report['dns'] else 'not answering'}")
    mem = report["memory_mib"]
    lines.append(f"  memory: {mem['daemons']:.0f} MiB daemons + {mem['pods_and_shims']:.0f} MiB pods and shims")
    lines.append(f"  kubeconfig: {report['kubeconfig']} (API {report['api_server']})")
    return lines
