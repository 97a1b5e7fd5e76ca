"""Clear errors for what the local cluster cannot do, and the parsing they rely on."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

import pytest

from mlops.cluster import preflight, probe
from mlops.cluster.layout import ClusterError, Layout, Toolchain


def test_not_root_says_so_and_offers_a_cluster_of_ones_own() -> None:
    with pytest.raises(ClusterError) as info:
        preflight.check_root(euid=1000)
    assert "needs root" in info.value.problem
    assert "kubernetes:kubeconfig" in info.value.fix


def test_cgroup_v2_without_controllers_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset io\n")
    with pytest.raises(ClusterError, match="cgroup v2 without the cpu, memory, pids"):
        preflight.check_cgroups(tmp_path)
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert preflight.check_cgroups(tmp_path) == "v2"


def test_cgroup_v1_needs_its_hierarchies(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="cgroup v1 lacks"):
        preflight.check_cgroups(tmp_path)
    for controller in preflight.V1_CONTROLLERS:
        (tmp_path / controller).mkdir()
    assert preflight.check_cgroups(tmp_path) == "v1"


def test_missing_commands_point_at_the_bootstrap() -> None:
    with pytest.raises(ClusterError) as info:
        preflight.check_commands(["iptables-that-does-not-exist"])
    assert "iptables-that-does-not-exist" in info.value.problem
    assert "--steps cluster" in info.value.fix


def test_missing_binaries_point_at_the_bootstrap(tmp_path: Path) -> None:
    with pytest.raises(ClusterError) as info:
        Toolchain.load(tmp_path / "current.json")
    assert "python3 scripts/bootstrap.py --steps cluster" in info.value.fix
    (tmp_path / "etcd").write_text("")
    (tmp_path / "current.json").write_text(json.dumps({"binaries": {"etcd": str(tmp_path / "etcd")}, "images": {}}))
    with pytest.raises(ClusterError, match=r"kube-apiserver.*pause image"):
        Toolchain.load(tmp_path / "current.json")


def test_proc_net_tcp_listeners_are_decoded(tmp_path: Path) -> None:
    (tmp_path / "tcp").write_text(
        "  sl  local_address rem_address   st\n"
        "   0: 0100007F:0950 00000000:0000 0A 0\n"  # 127.0.0.1:2384 listening
        "   1: 0100007F:1F90 0100007F:D2F0 01 0\n"  # established: ignored
    )
    (tmp_path / "tcp6").write_text("  sl  local_address\n   0: 00000000000000000000000000000000:192B 0 0A\n")
    assert preflight.listening(tmp_path) == {("127.0.0.1", 2384), ("::", 6443)}


def test_port_conflicts_name_the_port_and_respect_our_own_daemons(layout: Layout) -> None:
    taken = {("127.0.0.1", 2379), ("::", 10250)}
    conflicts = preflight.port_conflicts(layout.listeners(), taken)
    assert any("127.0.0.1:2379 (etcd)" in c for c in conflicts)
    assert any("10.244.0.1:10250 (kubelet)" in c for c in conflicts)
    with pytest.raises(ClusterError, match="in use"):
        preflight.check_ports(layout, taken=taken)
    preflight.check_ports(layout, ours=["etcd", "kubelet"], taken=taken)


def test_dns_reply_parsing() -> None:
    question = b"\x0akubernetes\x07default\x03svc\x07cluster\x05local\x00" + struct.pack(">HH", 1, 1)
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton("10.96.0.1")
    reply = struct.pack(">HHHHHH", 7, 0x8180, 1, 1, 0, 0) + question + answer
    assert probe.parse_a_records(reply, 7) == ["10.96.0.1"]
    assert probe.parse_a_records(reply, 8) == []
    nxdomain = struct.pack(">HHHHHH", 7, 0x8183, 1, 0, 0, 0) + question
    assert probe.parse_a_records(nxdomain, 7) == []
