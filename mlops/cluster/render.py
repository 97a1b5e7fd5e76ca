"""Configuration files of the cluster's daemons, rendered from a Layout (pure functions).

Kubernetes reads JSON wherever it reads YAML, so everything here is JSON except containerd's TOML.
"""

from __future__ import annotations

import json
from typing import Any

from mlops.cluster.layout import Layout

CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
CNI_NETWORK = "mlops-cluster"
# Nothing of ours uses them; `opt` would also install into /opt/containerd, outside our directories.
DISABLED_PLUGINS = (
    "io.containerd.internal.v1.opt",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
)


def containerd_config(layout: Layout, pause_tag: str, cni_bin_dir: str) -> str:
    """A containerd instance of our own beside Docker's: own root, state and socket.

    `restrict_oom_score_adj` is required on these machines: root lacks CAP_SYS_RESOURCE, and without
    it every sandbox fails with "runc create failed: can't get final child's PID from pipe: EOF".
    """
    cri = '[plugins."io.containerd.grpc.v1.cri"]'
    return f"""version = 2
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"
disabled_plugins = [{", ".join(f'"{p}"' for p in DISABLED_PLUGINS)}]

[grpc]
  address = "{layout.containerd_socket}"

[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"

{cri}
  sandbox_image = "{pause_tag}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"

{cri[:-1]}.cni]
  bin_dir = "{cni_bin_dir}"
  conf_dir = "{layout.cni_conf_dir}"

{cri[:-1]}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{cri[:-1]}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri[:-1]}.containerd.runtimes.runc.options]
  SystemdCgroup = false
"""


def cni_conflist(layout: Layout) -> dict[str, Any]:
    net = layout.network
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": net.bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.cni_data_dir),
                    "ranges": [[{"subnet": net.node_pod_cidr, "gateway": net.gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(layout: Layout) -> dict[str, Any]:
    pki, net = layout.pki, layout.network
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": net.gateway,
        "port": layout.ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.ports.kubelet_healthz,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "clusterDNS": [net.dns_ip],
        "clusterDomain": net.domain,
        "failSwapOn": False,
        "failCgroupV1": False,
        "protectKernelDefaults": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # A developer's disk is often fuller than the kubelet's defaults allow.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "podLogsDir": str(layout.pod_logs),
        "rotateCertificates": False,
        "serializeImagePulls": False,
        "resolvConf": "/etc/resolv.conf",
    }


def kube_proxy_config(layout: Layout, kubeconfig: str) -> dict[str, Any]:
    ports = layout.ports
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": kubeconfig},
        "clusterCIDR": layout.network.cluster_cidr,
        "hostnameOverride": layout.node_name,
        "healthzBindAddress": f"127.0.0.1:{ports.proxy_healthz}",
        "metricsBindAddress": f"127.0.0.1:{ports.proxy_metrics}",
        # NodePorts answer on loopback only: the operator's machine, never the network.
        "nodePortAddresses": ["127.0.0.1/32"],
        # 0 leaves the host's conntrack settings alone (nothing to restore on `down`).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def corefile(layout: Layout, port: int) -> str:
    """CoreDNS answers for the cluster only: no `forward`, so outside names never leave the machine."""
    net = layout.network
    return (
        f".:{port} {{\n    errors\n    health :8080\n    ready :8181\n"
        f"    kubernetes {net.domain} in-addr.arpa ip6.arpa {{\n        pods insecure\n        ttl 30\n    }}\n"
        "    cache 30\n    loop\n    reload\n    loadbalance\n}\n"
    )


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
