"""The cluster's daemons in start order: how each is started and how to tell it is healthy (pure)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from mlops.cluster.layout import Layout, Toolchain


@dataclass(frozen=True)
class Health:
    url: str  # http(s)://... or unix:///path (a socket that accepts connections)
    ca: Path | None = None  # verify TLS with this CA; None with https means a self-signed serving cert


@dataclass(frozen=True)
class DaemonSpec:
    name: str
    argv: list[str]
    health: Health


def kubeconfig(layout: Layout, name: str) -> Path:
    return layout.kubeconfigs / f"{name}.conf"


def specs(layout: Layout, tools: Toolchain, containerd: Path) -> list[DaemonSpec]:
    pki, net, ports, cfg = layout.pki, layout.network, layout.ports, layout.config_dir
    etcd_url = f"http://127.0.0.1:{ports.etcd_client}"
    peer_url = f"http://127.0.0.1:{ports.etcd_peer}"
    front_proxy = [
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
    ]
    return [
        DaemonSpec(
            "containerd",
            [str(containerd), "--config", str(cfg / "containerd.toml")],
            Health(f"unix://{layout.containerd_socket}"),
        ),
        DaemonSpec(
            "etcd",
            [
                str(tools["etcd"]),
                "--name=mlops",
                f"--data-dir={layout.etcd_data}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=mlops={peer_url}",
                "--log-level=warn",
            ],
            Health(f"{etcd_url}/health"),
        ),
        DaemonSpec(
            "kube-apiserver",
            [
                str(tools["kube-apiserver"]),
                f"--advertise-address={net.gateway}",
                f"--bind-address={net.gateway}",
                f"--secure-port={ports.apiserver}",
                f"--etcd-servers={etcd_url}",
                f"--service-cluster-ip-range={net.service_cidr}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--allow-privileged=true",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                "--kubelet-preferred-address-types=InternalIP",
                f"--service-account-issuer=https://kubernetes.default.svc.{net.domain}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
                *front_proxy,
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-username-headers=X-Remote-User",
                "--profiling=false",
            ],
            Health(f"{layout.apiserver_url}/readyz", ca=pki / "ca.crt"),
        ),
        DaemonSpec(
            "kube-controller-manager",
            [
                str(tools["kube-controller-manager"]),
                f"--kubeconfig={kubeconfig(layout, 'controller-manager')}",
                f"--authentication-kubeconfig={kubeconfig(layout, 'controller-manager')}",
                f"--authorization-kubeconfig={kubeconfig(layout, 'controller-manager')}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.controller_manager}",
                "--leader-elect=false",  # one instance: no 15 s lease wait after a restart
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                *front_proxy,
                "--allocate-node-cidrs=true",
                f"--cluster-cidr={net.cluster_cidr}",
                "--node-cidr-mask-size=24",
                f"--service-cluster-ip-range={net.service_cidr}",
                "--enable-hostpath-provisioner=true",
                "--profiling=false",
            ],
            Health(f"https://127.0.0.1:{ports.controller_manager}/healthz"),
        ),
        DaemonSpec(
            "kube-scheduler",
            [
                str(tools["kube-scheduler"]),
                f"--kubeconfig={kubeconfig(layout, 'scheduler')}",
                f"--authentication-kubeconfig={kubeconfig(layout, 'scheduler')}",
                f"--authorization-kubeconfig={kubeconfig(layout, 'scheduler')}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.scheduler}",
                "--leader-elect=false",
                *front_proxy,
                "--profiling=false",
            ],
            Health(f"https://127.0.0.1:{ports.scheduler}/healthz"),
        ),
        DaemonSpec(
            "kubelet",
            [
                str(tools["kubelet"]),
                f"--config={cfg / 'kubelet.json'}",
                f"--kubeconfig={kubeconfig(layout, 'kubelet')}",
                f"--root-dir={layout.kubelet_root}",
                f"--cert-dir={layout.kubelet_root / 'pki'}",
                f"--hostname-override={layout.node_name}",
                f"--node-ip={net.gateway}",
            ],
            Health(f"http://127.0.0.1:{ports.kubelet_healthz}/healthz"),
        ),
        DaemonSpec(
            "kube-proxy",
            [str(tools["kube-proxy"]), f"--config={cfg / 'kube-proxy.json'}"],
            Health(f"http://127.0.0.1:{ports.proxy_healthz}/healthz"),
        ),
        # The cluster stacks' artifact store (`cluster: local` points them here): moto's S3 server on the pod
        # bridge's gateway, which pods and this machine reach and nothing else does. In memory: artifacts
        # live as long as the cluster (a dev cluster's throwaway S3; the stacks create their buckets).
        DaemonSpec(
            "s3",
            [sys.executable, "-m", "moto.server", "-H", net.gateway, "-p", str(ports.s3)],
            Health(f"http://{net.gateway}:{ports.s3}/moto-api/"),
        ),
    ]
