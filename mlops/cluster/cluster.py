"""One cluster as the lifecycle sees it: its layout, its state file, its binaries, its progress."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from mlops.cluster.daemons import DaemonSpec, kubeconfig, specs
from mlops.cluster.layout import Layout, Toolchain
from mlops.cluster.probe import Kubectl, dns_query, healthy
from mlops.cluster.processes import alive
from mlops.cluster.progress import Progress
from mlops.cluster.state import State


@dataclass
class Cluster:
    layout: Layout = field(default_factory=Layout)
    progress: Progress = field(default_factory=Progress)
    manifest: Path | None = None  # the toolchain's current.json; None: the bootstrap's default path

    def __post_init__(self) -> None:
        self.state = State.load(self.layout.state_file)

    @functools.cached_property
    def tools(self) -> Toolchain:
        return Toolchain.load(self.manifest)

    def specs(self, containerd: Path) -> list[DaemonSpec]:
        return specs(self.layout, self.tools, containerd)

    def kubectl(self, admin: bool = True) -> Kubectl:
        """admin: the documented admin kubeconfig; else kubeadm's super-admin (needed before RBAC is bound)."""
        path = self.layout.admin_kubeconfig if admin else kubeconfig(self.layout, "super-admin")
        return Kubectl(self.tools["kubectl"], path)

    def running(self) -> dict[str, int]:
        return {name: record.pid for name, record in self.state.daemons.items() if alive(record)}

    def dns_answers(self) -> bool:
        net = self.layout.network
        return dns_query(f"kubernetes.default.svc.{net.domain}", net.dns_ip) == [net.api_service_ip]

    def fully_healthy(self) -> bool:
        """Every recorded daemon alive and answering its health check, the node Ready and DNS answering."""
        if "containerd" not in self.state.daemons or not self.layout.admin_kubeconfig.is_file():
            return False
        by_name = {spec.name: spec for spec in self.specs(Path(self.state.daemons["containerd"].exe))}
        for name, spec in by_name.items():
            record = self.state.daemons.get(name)
            if record is None or not alive(record) or not healthy(spec.health):
                return False
        return self.kubectl().node_ready(self.layout.node_name) and self.dns_answers()
