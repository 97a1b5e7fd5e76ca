"""Configuration rendering: what the verified facts require of each daemon's configuration."""

from __future__ import annotations

import json
import tomllib

from mlops.cluster import manifests, render
from mlops.cluster.daemons import specs
from mlops.cluster.layout import Layout, Toolchain


def test_containerd_is_a_separate_instance_with_the_required_cri_settings(layout: Layout) -> None:
    config = tomllib.loads(render.containerd_config(layout, "localhost/mlops/pause:abc", "/usr/lib/cni"))
    assert config["root"] == str(layout.state_dir / "containerd")
    assert config["state"] == str(layout.run_dir / "containerd")
    assert config["grpc"]["address"] == str(layout.run_dir / "containerd.sock")
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == "localhost/mlops/pause:abc"
    assert cri["cni"] == {"bin_dir": "/usr/lib/cni", "conf_dir": str(layout.cni_conf_dir)}
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False


def test_kubelet_config_fits_these_machines(layout: Layout) -> None:
    config = render.kubelet_config(layout)
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["failSwapOn"] is False and config["failCgroupV1"] is False
    assert config["imageGCHighThresholdPercent"] == 100
    assert config["clusterDNS"] == ["10.96.0.10"]
    assert config["protectKernelDefaults"] is False
    assert config["healthzBindAddress"] == "127.0.0.1"
    assert config["containerRuntimeEndpoint"] == f"unix://{layout.containerd_socket}"


def test_kube_proxy_uses_iptables_and_loopback_node_ports(layout: Layout) -> None:
    config = render.kube_proxy_config(layout, "/k.conf")
    assert config["mode"] == "iptables"
    assert config["nodePortAddresses"] == ["127.0.0.1/32"]
    assert config["clusterCIDR"] == "10.244.0.0/16"
    assert config["conntrack"]["maxPerCore"] == 0


def test_cni_bridge_serves_the_node_range(layout: Layout) -> None:
    conflist = render.cni_conflist(layout)
    bridge, portmap = conflist["plugins"]
    assert bridge["ipMasq"] is True and bridge["bridge"] == layout.network.bridge
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24", "gateway": "10.244.0.1"}]]
    assert bridge["ipam"]["dataDir"].startswith(str(layout.state_dir))
    assert portmap["type"] == "portmap"


def test_coredns_never_forwards_and_sits_at_the_dns_address(layout: Layout) -> None:
    objects = manifests.bootstrap_objects(layout, "localhost/mlops/coredns:v1.14.0")["items"]
    by_kind = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    corefile = by_kind[("ConfigMap", "coredns")]["data"]["Corefile"]
    assert "forward" not in corefile and "kubernetes cluster.local" in corefile
    service = by_kind[("Service", "kube-dns")]
    assert service["spec"]["clusterIP"] == "10.96.0.10"
    assert {p["port"] for p in service["spec"]["ports"]} == {53}
    pod = by_kind[("Deployment", "coredns")]["spec"]["template"]["spec"]
    assert pod["containers"][0]["imagePullPolicy"] == "Never"
    assert pod["containers"][0]["securityContext"]["runAsNonRoot"] is True
    storage = by_kind[("StorageClass", manifests.STORAGE_CLASS)]
    assert storage["provisioner"] == "kubernetes.io/host-path"
    assert storage["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    json.dumps(objects)  # one `kubectl apply` of JSON


def _tools(tmp) -> Toolchain:
    names = [*Toolchain.REQUIRED, "coredns"]
    return Toolchain({n: tmp / n for n in names}, {}, "v1.34.4")


def test_control_plane_flags(layout: Layout, tmp_path) -> None:
    by_name = {s.name: s for s in specs(layout, _tools(tmp_path), tmp_path / "containerd")}
    assert list(by_name) == [
        "containerd",
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "s3",
    ]
    assert by_name["s3"].argv[-4:] == ["-H", layout.network.gateway, "-p", str(layout.ports.s3)]
    api = by_name["kube-apiserver"].argv
    assert "--authorization-mode=Node,RBAC" in api
    assert "--service-cluster-ip-range=10.96.0.0/12" in api
    assert f"--bind-address={layout.network.gateway}" in api
    assert any(a.startswith("--requestheader-client-ca-file=") and a.endswith("front-proxy-ca.crt") for a in api)
    cm = by_name["kube-controller-manager"].argv
    for flag in (
        "--allocate-node-cidrs=true",
        "--cluster-cidr=10.244.0.0/16",
        "--enable-hostpath-provisioner=true",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
    ):
        assert flag in cm
    assert "--listen-client-urls=http://127.0.0.1:2379" in by_name["etcd"].argv
    assert by_name["kube-apiserver"].health.ca == layout.pki / "ca.crt"
