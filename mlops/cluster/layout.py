"""Where the local cluster keeps everything, which ports and addresses it uses, and its binaries.

One `Layout` names every path and port, so a test can run a cluster of its own under other
directories, and `down --purge` knows exactly what to remove.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_STATE_DIR = Path("/var/lib/mlops-cluster")
DEFAULT_RUN_DIR = Path("/run/mlops-cluster")
BOOTSTRAP_FIX = "run `python3 scripts/bootstrap.py --steps cluster`"


class ClusterError(Exception):
    """A failure the user can act on: what is wrong, and what to do about it."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(f"{problem}\n  fix: {fix}" if fix else problem)
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class Ports:
    etcd_client: int = 2379
    etcd_peer: int = 2380
    apiserver: int = 6443
    controller_manager: int = 10257
    scheduler: int = 10259
    kubelet: int = 10250
    kubelet_healthz: int = 10248
    proxy_metrics: int = 10249
    proxy_healthz: int = 10256
    s3: int = 9000


@dataclass(frozen=True)
class Network:
    """The pod and service ranges. The API server listens on the pod bridge's gateway address:
    pods reach it there through the `kubernetes` Service, and it stays off the machine's real interfaces."""

    bridge: str = "mlops0"
    cluster_cidr: str = "10.244.0.0/16"
    node_pod_cidr: str = "10.244.0.0/24"
    gateway: str = "10.244.0.1"
    service_cidr: str = "10.96.0.0/12"
    api_service_ip: str = "10.96.0.1"
    dns_ip: str = "10.96.0.10"
    domain: str = "cluster.local"


@dataclass(frozen=True)
class Layout:
    state_dir: Path = DEFAULT_STATE_DIR
    run_dir: Path = DEFAULT_RUN_DIR
    ports: Ports = field(default_factory=Ports)
    network: Network = field(default_factory=Network)
    node_name: str = field(default_factory=lambda: socket.gethostname().lower())

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def pki(self) -> Path:
        return self.state_dir / "pki"

    @property
    def kubeconfigs(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def admin_kubeconfig(self) -> Path:
        """The documented path users point kubectl and the cluster stacks at."""
        return self.state_dir / "admin.kubeconfig"

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "config"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.state_dir / "etcd"

    @property
    def containerd_root(self) -> Path:
        return self.state_dir / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.run_dir / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.state_dir / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.state_dir / "pod-logs"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state_dir / "cni" / "net.d"

    @property
    def cni_data_dir(self) -> Path:
        return self.state_dir / "cni" / "networks"

    @property
    def apiserver_url(self) -> str:
        return f"https://{self.network.gateway}:{self.ports.apiserver}"

    def listeners(self) -> dict[str, tuple[str, int]]:
        """Every (address, port) a daemon of ours listens on, by daemon."""
        p, gw = self.ports, self.network.gateway
        return {
            "etcd": ("127.0.0.1", p.etcd_client),
            "etcd-peer": ("127.0.0.1", p.etcd_peer),
            "kube-apiserver": (gw, p.apiserver),
            "kube-controller-manager": ("127.0.0.1", p.controller_manager),
            "kube-scheduler": ("127.0.0.1", p.scheduler),
            "kubelet": (gw, p.kubelet),
            "kubelet-healthz": ("127.0.0.1", p.kubelet_healthz),
            "kube-proxy-metrics": ("127.0.0.1", p.proxy_metrics),
            "kube-proxy-healthz": ("127.0.0.1", p.proxy_healthz),
            "s3": (gw, p.s3),
        }


def toolchain_manifest() -> Path:
    """`<toolchain cache>/cluster/current.json`, written by the bootstrap's `cluster` step."""
    override = os.environ.get("MLOPS_TOOLCHAIN_CACHE")
    if override:
        return Path(override) / "cluster" / "current.json"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlops-platform" / "toolchain" / "cluster" / "current.json"


@dataclass(frozen=True)
class Toolchain:
    binaries: dict[str, Path]
    images: dict[str, tuple[str, Path]]  # name -> (tag, docker-save tarball)
    kubernetes_version: str

    REQUIRED = (
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "kubectl",
        "kubeadm",
        "etcd",
    )

    @classmethod
    def load(cls, manifest: Path | None = None) -> Toolchain:
        path = manifest or toolchain_manifest()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ClusterError(f"the cluster's binaries are not built ({path}: {exc})", BOOTSTRAP_FIX) from exc
        binaries = {name: Path(p) for name, p in data.get("binaries", {}).items()}
        images = {name: (img["tag"], Path(img["tarball"])) for name, img in data.get("images", {}).items()}
        missing = [n for n in cls.REQUIRED if n not in binaries or not binaries[n].is_file()]
        missing += [f"{n} image" for n in ("pause", "coredns") if n not in images or not images[n][1].is_file()]
        if missing:
            raise ClusterError(f"missing from the cluster toolchain: {', '.join(missing)}", BOOTSTRAP_FIX)
        return cls(binaries, images, data.get("kubernetes_version", ""))

    def __getitem__(self, name: str) -> Path:
        return self.binaries[name]
