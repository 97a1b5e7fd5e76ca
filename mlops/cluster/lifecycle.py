"""`up`: bring the single-node cluster to healthy, doing only what is not done yet."""

from __future__ import annotations

import logging
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from mlops.cluster import host, manifests, preflight, render
from mlops.cluster.cluster import Cluster
from mlops.cluster.daemons import DaemonSpec, kubeconfig
from mlops.cluster.layout import ClusterError
from mlops.cluster.probe import healthy, wait_for
from mlops.cluster.processes import alive, spawn, tail

log = logging.getLogger(__name__)

CONTROL_PLANE_TIMEOUT_S = 90.0
NODE_TIMEOUT_S = 120.0


def up(cluster: Cluster) -> str:
    """Start what is not running; a no-op (that says so) when everything is already healthy."""
    layout, state, progress = cluster.layout, cluster.state, cluster.progress
    with progress.step("preflight") as step:
        preflight.check_root()
        cgroups = preflight.check_cgroups()
        commands = preflight.check_commands()
        cni_bin = preflight.cni_bin_dir()
        tools = cluster.tools
        running = [name for name, record in state.daemons.items() if alive(record)]
        if len(running) == len(cluster.specs(commands["containerd"])) and cluster.fully_healthy():
            step.detail = "everything already running and healthy"
            return f"already up and healthy: nothing to do (kubeconfig: {layout.admin_kubeconfig})"
        preflight.check_ports(layout, ours=running)
        step.detail = f"root, cgroup {cgroups}, binaries {tools.kubernetes_version}, ports free"
    with progress.step("host") as step:
        step.detail = prepare_host(cluster)
    with progress.step("config") as step:
        step.detail = write_configs(cluster, cni_bin)
    with progress.step("certificates") as step:
        step.detail = certificates(cluster)
    specs = cluster.specs(commands["containerd"])
    by_name = {spec.name: spec for spec in specs}
    with progress.step("containerd") as step:
        step.detail = start(cluster, [by_name["containerd"]], timeout=30)
        step.detail += "; " + import_images(cluster, commands["ctr"])
    for name in ("etcd", "kube-apiserver"):
        with progress.step(name) as step:
            step.detail = start(cluster, [by_name[name]], timeout=CONTROL_PLANE_TIMEOUT_S)
    with progress.step("cluster objects") as step:
        objects = manifests.bootstrap_objects(layout, tools.images["coredns"][0])
        cluster.kubectl(admin=False).checked(["apply", "-f", "-"], stdin=render.to_json(objects))
        step.detail = f"{len(objects['items'])} objects applied (admin binding, CoreDNS, StorageClass)"
    kubelet_started = datetime.now(UTC).replace(microsecond=0)
    # A kubelet that was already running reports Ready only when its status changes (or every few minutes):
    # wait for a fresh report only from a kubelet this run starts.
    kubelet_record = state.daemons.get("kubelet")
    fresh_since = None if kubelet_record and alive(kubelet_record) else kubelet_started
    with progress.step("node daemons") as step:
        rest = [s for s in specs if s.name not in ("containerd", "etcd", "kube-apiserver")]
        step.detail = start(cluster, rest, timeout=CONTROL_PLANE_TIMEOUT_S)
    with progress.step("node ready") as step:
        wait_for(
            lambda: cluster.kubectl().node_ready(layout.node_name, since=fresh_since),
            f"node {layout.node_name}",
            NODE_TIMEOUT_S,
            hint=f"read {layout.logs / 'kubelet.log'}",
        )
        step.detail = f"node {layout.node_name} Ready"
    with progress.step("dns") as step:
        wait_for(
            cluster.dns_answers,
            "cluster DNS",
            NODE_TIMEOUT_S,
            hint="kubectl -n kube-system describe pod -l k8s-app=kube-dns",
        )
        step.detail = f"kubernetes.default.svc.{layout.network.domain} resolves at {layout.network.dns_ip}"
    return f"cluster up in {progress.elapsed:.1f}s; kubeconfig: {layout.admin_kubeconfig}"


def prepare_host(cluster: Cluster) -> str:
    record, run, layout = cluster.state.host, host.run_command, cluster.layout
    try:
        host.load_module(record, "br_netfilter", run, marker=Path("/proc/sys/net/bridge"))
        host.record_sysctls(record, [*host.SYSCTLS_WE_SET, *host.SYSCTLS_THEY_SET])
        cluster.state.save()
        host.set_sysctls(host.SYSCTLS_WE_SET)
        host.snapshot_chains(record, run)
        cluster.state.save()
        for rule in host.forward_rules(layout):
            host.ensure_rule(record, rule, run)
            cluster.state.save()
        host.ensure_bridge(record, layout, run)
    except (RuntimeError, OSError) as exc:
        raise ClusterError(f"could not prepare the host: {exc}", "`mlops cluster down` undoes what was done") from exc
    finally:
        cluster.state.save()
    return f"br_netfilter, ip_forward, FORWARD rules for {layout.network.cluster_cidr}, bridge {layout.network.bridge}"


def _write(path: Path, content: str, mode: int = 0o644) -> bool:
    if path.is_file() and path.read_text(encoding="utf-8") == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return True


def write_configs(cluster: Cluster, cni_bin: Path) -> str:
    layout, tools = cluster.layout, cluster.tools
    for directory in (layout.logs, layout.etcd_data, layout.kubelet_root, layout.pod_logs, layout.run_dir):
        directory.mkdir(parents=True, exist_ok=True)
    layout.etcd_data.chmod(0o700)
    cfg = layout.config_dir
    changed = [
        name
        for name, path, content in (
            (
                "containerd",
                cfg / "containerd.toml",
                render.containerd_config(layout, tools.images["pause"][0], str(cni_bin)),
            ),
            ("cni", layout.cni_conf_dir / "10-mlops.conflist", render.to_json(render.cni_conflist(layout))),
            ("kubelet", cfg / "kubelet.json", render.to_json(render.kubelet_config(layout))),
            (
                "kube-proxy",
                cfg / "kube-proxy.json",
                render.to_json(render.kube_proxy_config(layout, str(kubeconfig(layout, "admin")))),
            ),
        )
        if _write(path, content)
    ]
    return f"written: {', '.join(changed)}" if changed else "unchanged"


def certificates(cluster: Cluster) -> str:
    layout, kubeadm = cluster.layout, cluster.tools["kubeadm"]
    version = cluster.tools.kubernetes_version
    done = []
    common = ["--kubernetes-version", version, "--cert-dir", str(layout.pki)]
    if not (layout.pki / "front-proxy-ca.crt").is_file() or not (layout.pki / "sa.key").is_file():
        _run(
            [
                kubeadm,
                "init",
                "phase",
                "certs",
                "all",
                *common,
                "--apiserver-advertise-address",
                layout.network.gateway,
                "--apiserver-cert-extra-sans",
                "127.0.0.1,localhost",
                "--service-cidr",
                layout.network.service_cidr,
                "--service-dns-domain",
                layout.network.domain,
            ]
        )
        done.append("certificates")
    if not kubeconfig(layout, "scheduler").is_file():
        _run(
            [
                kubeadm,
                "init",
                "phase",
                "kubeconfig",
                "all",
                *common,
                "--kubeconfig-dir",
                str(layout.kubeconfigs),
                "--apiserver-advertise-address",
                layout.network.gateway,
                "--apiserver-bind-port",
                str(layout.ports.apiserver),
                "--node-name",
                layout.node_name,
            ]
        )
        done.append("kubeconfigs")
    if not layout.admin_kubeconfig.is_file():
        shutil.copyfile(kubeconfig(layout, "admin"), layout.admin_kubeconfig)
        layout.admin_kubeconfig.chmod(0o600)
    return f"made {' and '.join(done)} with kubeadm" if done else f"present in {layout.pki}"


def _run(argv: list[str | Path]) -> str:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise ClusterError(f"`{' '.join(map(str, argv[:4]))}` failed:\n{(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc.stdout


def start(cluster: Cluster, specs: list[DaemonSpec], timeout: float) -> str:
    """Start each daemon that is not running (recording its pid), then wait until all are healthy."""
    state, layout = cluster.state, cluster.layout
    started, kept = [], []
    for spec in specs:
        record = state.daemons.get(spec.name)
        if record and alive(record):
            kept.append(f"{spec.name} (pid {record.pid})")
            continue
        state.daemons[spec.name] = spawn(spec.argv, layout.logs / f"{spec.name}.log", cwd=layout.state_dir)
        state.save()
        started.append(f"{spec.name} (pid {state.daemons[spec.name].pid})")
    for spec in specs:
        record = state.daemons[spec.name]

        def ready(spec: DaemonSpec = spec, record=record) -> bool:
            if not alive(record):
                raise ClusterError(f"{spec.name} exited; last lines of {record.log}:\n{tail(record.log)}")
            return healthy(spec.health)

        wait_for(ready, spec.name, timeout, hint=f"read {record.log}")
    parts = [f"started {', '.join(started)}"] if started else []
    parts += [f"already running {', '.join(kept)}"] if kept else []
    return "; ".join(parts)


def import_images(cluster: Cluster, ctr: Path) -> str:
    socket = str(cluster.layout.containerd_socket)
    listed = _run([ctr, "-a", socket, "-n", "k8s.io", "images", "ls", "-q"]).split()
    imported = []
    for name, (tag, tarball) in sorted(cluster.tools.images.items()):
        if tag not in listed:
            _run([ctr, "-a", socket, "-n", "k8s.io", "images", "import", str(tarball)])
            imported.append(name)
    return f"imported {', '.join(imported)} image(s)" if imported else "images present"
