"""Host changes: each recorded once, before it is made, and undone exactly by `down`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.cluster import host
from mlops.cluster.layout import Layout
from mlops.cluster.state import HostRecord, State


def _proc_sys(tmp_path: Path, values: dict[str, str]) -> Path:
    root = tmp_path / "proc-sys"
    for name, value in values.items():
        path = host.sysctl_path(name, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return root


def test_sysctls_are_recorded_once_and_restored(tmp_path: Path) -> None:
    proc = _proc_sys(tmp_path, {"net.ipv4.ip_forward": "0", "kernel.panic": "0", "vm.overcommit_memory": "0"})
    record = HostRecord()
    host.record_sysctls(record, ["net.ipv4.ip_forward", "kernel.panic", "vm.overcommit_memory", "no.such"], proc)
    host.set_sysctls({"net.ipv4.ip_forward": "1"}, proc)
    host.sysctl_path("kernel.panic", proc).write_text("10\n")  # the kubelet changes it
    host.record_sysctls(record, ["net.ipv4.ip_forward", "kernel.panic"], proc)  # a second `up`
    assert record.sysctls == {"net.ipv4.ip_forward": "0", "kernel.panic": "0", "vm.overcommit_memory": "0"}
    assert host.restore_sysctls(record, proc) == []
    assert host.sysctl_path("net.ipv4.ip_forward", proc).read_text().strip() == "0"
    assert host.sysctl_path("kernel.panic", proc).read_text().strip() == "0"
    assert record.sysctls == {}


def test_forward_rules_are_inserted_once_tagged_and_removed(layout: Layout, runner) -> None:
    present: list[list[str]] = []
    runner.on(["iptables", "-w", "-t", "filter", "-C"], lambda argv: (0 if argv[5:] in present else 1, ""))
    runner.on(["iptables", "-w", "-t", "filter", "-I"], lambda argv: (present.append([argv[5], *argv[7:]]) or 0, ""))
    runner.on(["iptables", "-w", "-t", "filter", "-D"], lambda argv: (present.remove(argv[5:]) or 0, ""))
    record = HostRecord()
    for rule in host.forward_rules(layout):
        host.ensure_rule(record, rule, runner)
        host.ensure_rule(record, rule, runner)
    assert len(present) == 2 and len(record.iptables) == 2
    assert all(host.RULE_TAG in rule and "10.244.0.0/16" in rule for rule in present)
    host.remove_rules(record, runner)
    assert present == [] and record.iptables == []


def test_a_rule_that_was_already_there_is_not_ours_to_remove(layout: Layout, runner) -> None:
    runner.on(["iptables"], lambda argv: (0, ""))  # -C finds every rule present
    record = HostRecord()
    host.ensure_rule(record, host.forward_rules(layout)[0], runner)
    assert record.iptables == []


def test_only_new_kube_and_cni_chains_are_removed_with_the_jumps_to_them(runner) -> None:
    before = "-P FORWARD DROP\n-N DOCKER\n-N KUBE-OLD\n"
    after = before + "-N KUBE-SERVICES\n-N CNI-abc\n-A FORWARD -j KUBE-SERVICES\n-A KUBE-SERVICES -j CNI-abc\n"
    rules = {"iptables/filter": before}

    def listing(argv: list[str]) -> tuple[int, str]:
        return 0, rules.get(f"{argv[0]}/{argv[3]}", "-P INPUT ACCEPT\n") if argv[4] == "-S" else ""

    runner.on(["iptables"], listing)
    runner.on(["ip6tables"], listing)
    record = HostRecord()
    host.snapshot_chains(record, runner)
    assert record.chains_before["filter"] == ["DOCKER", "KUBE-OLD"]
    assert record.chains_before["ip6tables/nat"] == []
    rules["iptables/filter"] = after
    removed = host.remove_new_chains(record, runner)
    assert removed == ["filter/CNI-abc", "filter/KUBE-SERVICES"]
    deletes = [c for c in runner.calls if c[4] in ("-D", "-X")]
    assert ["iptables", "-w", "-t", "filter", "-D", "FORWARD", "-j", "KUBE-SERVICES"] in deletes
    assert not any("KUBE-OLD" in c or "DOCKER" in c for c in deletes)
    assert record.chains_before == {}


def test_bridge_is_removed_only_when_we_created_it(layout: Layout, runner) -> None:
    runner.on(["ip", "link", "show"], lambda argv: (1, ""))
    record = HostRecord()
    host.ensure_bridge(record, layout, runner)
    assert record.bridge == "mlops0"
    assert ["ip", "addr", "add", "10.244.0.1/24", "dev", "mlops0"] in runner.calls
    host.remove_bridge(record, runner)
    assert ["ip", "link", "del", "mlops0"] in runner.calls and record.bridge == ""


def test_builtin_br_netfilter_needs_no_modprobe(tmp_path: Path, runner) -> None:
    marker = tmp_path / "bridge"
    marker.mkdir()
    record = HostRecord()
    host.load_module(record, "br_netfilter", runner, sys_module=tmp_path / "none", marker=marker)
    assert runner.calls == [] and record.modules == []
    host.load_module(record, "br_netfilter", runner, sys_module=tmp_path / "none", marker=tmp_path / "absent")
    assert record.modules == ["br_netfilter"]
    runner.on(["modprobe", "-r"], lambda argv: (1, ""))
    host.unload_modules(record, runner)
    assert record.modules == []


def test_state_file_round_trips_and_knows_when_it_is_clean(tmp_path: Path) -> None:
    state = State(tmp_path / "s" / "state.json")
    assert state.is_clean()
    state.host.sysctls["kernel.panic"] = "0"
    state.host.iptables.append(["filter", "FORWARD", "-s", "x"])
    state.save()
    loaded = State.load(state.path)
    assert loaded.host == state.host and not loaded.is_clean()
    with pytest.raises(FileNotFoundError):
        State.load(tmp_path / "missing" / "x").path.read_text()
