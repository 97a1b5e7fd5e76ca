"""Changes to the host (module, sysctls, bridge, iptables), each recorded before or as it is made.

Every function takes the command runner and the /proc/sys root, so the record/undo logic runs in
tests against fakes.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from mlops.cluster.layout import Layout
from mlops.cluster.state import HostRecord

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]
RULE_TAG = "mlops-cluster"
TABLES = ("filter", "nat", "mangle")
FAMILIES = ("iptables", "ip6tables")  # the kubelet and kube-proxy make chains in both
OUR_CHAIN_PREFIXES = ("KUBE-", "CNI-")
# Set by us; the rest are changed by the kubelet (setupKernelTunables) and kube-proxy (route_localnet).
SYSCTLS_WE_SET = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"}
SYSCTLS_THEY_SET = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.conf.all.route_localnet",
)


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=60)


def sysctl_path(name: str, proc_sys: Path) -> Path:
    return proc_sys / name.replace(".", "/")


def record_sysctls(host: HostRecord, names: Sequence[str], proc_sys: Path = Path("/proc/sys")) -> None:
    """Remember each value as it is before we (or our daemons) first touch it."""
    for name in names:
        path = sysctl_path(name, proc_sys)
        if name not in host.sysctls and path.exists():
            host.sysctls[name] = path.read_text(encoding="utf-8").strip()


def set_sysctls(values: dict[str, str], proc_sys: Path = Path("/proc/sys")) -> None:
    for name, value in values.items():
        sysctl_path(name, proc_sys).write_text(value + "\n", encoding="utf-8")


def restore_sysctls(host: HostRecord, proc_sys: Path = Path("/proc/sys")) -> list[str]:
    """Write back every recorded value; returns the names that could not be restored."""
    failed = []
    for name, value in list(host.sysctls.items()):
        path = sysctl_path(name, proc_sys)
        try:
            if path.exists() and path.read_text(encoding="utf-8").strip() != value:
                path.write_text(value + "\n", encoding="utf-8")
            del host.sysctls[name]
        except OSError as exc:
            log.warning("could not restore %s=%s: %s", name, value, exc)
            failed.append(name)
    return failed


def load_module(
    host: HostRecord, name: str, run: Runner, sys_module: Path = Path("/sys/module"), marker: Path | None = None
) -> None:
    """Load `name` unless it is loaded or built in (`marker` exists: br_netfilter's /proc/sys/net/bridge)."""
    if (sys_module / name).exists() or (marker is not None and marker.exists()):
        return
    try:
        proc = run(["modprobe", name])
    except FileNotFoundError as exc:
        raise RuntimeError(
            f"kernel module {name} is not loaded and modprobe is not installed (apt-get install kmod)"
        ) from exc
    if proc.returncode != 0:
        raise RuntimeError(f"modprobe {name} failed: {proc.stderr.strip()}")
    host.modules.append(name)


def unload_modules(host: HostRecord, run: Runner) -> None:
    for name in list(host.modules):
        proc = run(["modprobe", "-r", name])
        if proc.returncode != 0:  # in use by someone else since (Docker): leave it, it is harmless
            log.info("kept kernel module %s loaded (%s)", name, proc.stderr.strip() or "in use")
        host.modules.remove(name)


def forward_rules(layout: Layout) -> list[list[str]]:
    """Docker sets FORWARD's policy to DROP: accept the pod network's traffic, tagged as ours."""
    cidr = layout.network.cluster_cidr
    tag = ["-m", "comment", "--comment", RULE_TAG, "-j", "ACCEPT"]
    return [["filter", "FORWARD", "-s", cidr, *tag], ["filter", "FORWARD", "-d", cidr, *tag]]


def ensure_rule(host: HostRecord, rule: list[str], run: Runner) -> None:
    table, chain, *spec = rule
    if run(["iptables", "-w", "-t", table, "-C", chain, *spec]).returncode == 0:
        if rule not in host.iptables:
            log.debug("rule already present, not ours to remove: %s", rule)
        return
    proc = run(["iptables", "-w", "-t", table, "-I", chain, "1", *spec])
    if proc.returncode != 0:
        raise RuntimeError(f"iptables -I {chain} failed: {proc.stderr.strip()}")
    host.iptables.append(rule)


def remove_rules(host: HostRecord, run: Runner) -> None:
    for rule in list(host.iptables):
        table, chain, *spec = rule
        while run(["iptables", "-w", "-t", table, "-C", chain, *spec]).returncode == 0:
            run(["iptables", "-w", "-t", table, "-D", chain, *spec])
        host.iptables.remove(rule)


def chains(table: str, run: Runner, family: str = "iptables") -> list[str]:
    out = run([family, "-w", "-t", table, "-S"]).stdout
    return [line.split()[1] for line in out.splitlines() if line.startswith("-N ")]


def _key(family: str, table: str) -> str:
    return table if family == "iptables" else f"{family}/{table}"


def snapshot_chains(host: HostRecord, run: Runner) -> None:
    if not host.chains_before:
        host.chains_before = {_key(f, t): chains(t, run, f) for f in FAMILIES for t in TABLES}


def remove_new_chains(host: HostRecord, run: Runner) -> list[str]:
    """Delete the KUBE-*/CNI-* chains that did not exist before `up`, and every jump to them."""
    removed: list[str] = []
    for family in FAMILIES:
        for table in TABLES:
            key = _key(family, table)
            if key not in host.chains_before:
                continue
            before = set(host.chains_before[key])
            ours = {c for c in chains(table, run, family) if c.startswith(OUR_CHAIN_PREFIXES) and c not in before}
            if ours:
                _drop_chains(family, table, ours, run)
                removed += [f"{key}/{c}" for c in sorted(ours)]
    host.chains_before = {}
    return removed


def _drop_chains(family: str, table: str, ours: set[str], run: Runner) -> None:
    for line in run([family, "-w", "-t", table, "-S"]).stdout.splitlines():
        words = shlex.split(line)  # CNI's rules carry quoted comments with spaces
        if words[:1] == ["-A"] and words[1] not in ours and "-j" in words and words[words.index("-j") + 1] in ours:
            run([family, "-w", "-t", table, "-D", *words[1:]])
    for chain in ours:
        run([family, "-w", "-t", table, "-F", chain])
    for chain in ours:
        run([family, "-w", "-t", table, "-X", chain])


def ensure_bridge(host: HostRecord, layout: Layout, run: Runner) -> None:
    """The pod bridge, made before the API server starts: its gateway address is the API's."""
    name, gateway = layout.network.bridge, layout.network.gateway
    prefix = layout.network.node_pod_cidr.split("/")[1]
    if run(["ip", "link", "show", name]).returncode != 0:
        proc = run(["ip", "link", "add", name, "type", "bridge"])
        if proc.returncode != 0:
            raise RuntimeError(f"ip link add {name} failed: {proc.stderr.strip()}")
        host.bridge = name
    if f" {gateway}/" not in run(["ip", "-4", "addr", "show", "dev", name]).stdout:
        run(["ip", "addr", "add", f"{gateway}/{prefix}", "dev", name])
    run(["ip", "link", "set", name, "up"])


def remove_bridge(host: HostRecord, run: Runner) -> None:
    if host.bridge:
        run(["ip", "link", "del", host.bridge])
        host.bridge = ""
