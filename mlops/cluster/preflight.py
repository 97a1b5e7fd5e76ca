"""What `up` checks before touching the host, each failure with what to do about it."""

from __future__ import annotations

import ipaddress
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from mlops.cluster.layout import BOOTSTRAP_FIX, ClusterError, Layout
from mlops.cluster.render import CNI_BIN_DIRS

OWN_CLUSTER = "or point the cluster stacks at a cluster of your own (KUBECONFIG or `kubernetes:kubeconfig`)"
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
V2_CONTROLLERS = ("cpu", "memory", "pids")
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer")


def check_root(euid: int | None = None) -> None:
    if (os.geteuid() if euid is None else euid) != 0:
        raise ClusterError(
            "the local cluster runs its daemons as host processes and changes iptables and sysctls: it needs root",
            f"run it as root (`sudo -E .venv/bin/mlops cluster up`), {OWN_CLUSTER}",
        )


def check_cgroups(root: Path = Path("/sys/fs/cgroup")) -> str:
    """'v1' or 'v2'; raises when the controllers the kubelet needs are not available."""
    controllers_file = root / "cgroup.controllers"
    if controllers_file.exists():
        available = set(controllers_file.read_text(encoding="utf-8").split())
        missing = [c for c in V2_CONTROLLERS if c not in available]
        if missing:
            raise ClusterError(
                f"cgroup v2 without the {', '.join(missing)} controller(s) "
                f"(have: {' '.join(sorted(available)) or 'none'})",
                "enable them (e.g. boot with systemd.unified_cgroup_hierarchy and delegate controllers, or run "
                f"outside a restricted container), {OWN_CLUSTER}",
            )
        return "v2"
    missing = [c for c in V1_CONTROLLERS if not (root / c).is_dir()]
    if missing:
        raise ClusterError(
            f"no cgroup v2 and cgroup v1 lacks {', '.join(missing)} under {root}",
            f"mount the cgroup hierarchies (or boot with cgroup v2), {OWN_CLUSTER}",
        )
    return "v1"


def check_commands(names: Iterable[str] = ("iptables", "ip", "containerd", "runc", "ctr")) -> dict[str, Path]:
    found: dict[str, Path] = {}
    missing = []
    for name in names:
        path = shutil.which(name)
        if path is None:
            missing.append(name)
        else:
            found[name] = Path(path)
    if missing:
        raise ClusterError(f"not installed: {', '.join(missing)}", BOOTSTRAP_FIX + " (as root, on Debian)")
    return found


def cni_bin_dir(candidates: Iterable[str] = CNI_BIN_DIRS) -> Path:
    for candidate in candidates:
        directory = Path(candidate)
        if all((directory / plugin).is_file() for plugin in CNI_PLUGINS):
            return directory
    raise ClusterError(
        f"no directory among {', '.join(CNI_BIN_DIRS)} has the CNI plugins {', '.join(CNI_PLUGINS)}",
        BOOTSTRAP_FIX + " (it installs Debian's containernetworking-plugins)",
    )


def _decode(hex_address: str) -> tuple[str, int]:
    address, port = hex_address.split(":")
    raw = bytes.fromhex(address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1])), int(port, 16)
    # /proc/net/tcp6 prints four little-endian 32-bit words
    return str(ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))), int(port, 16)


def listening(proc_net: Path = Path("/proc/net")) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of this network namespace."""
    found = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc_net / name).read_text(encoding="utf-8").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                found.add(_decode(fields[1]))
    return found


def port_conflicts(wanted: dict[str, tuple[str, int]], taken: set[tuple[str, int]]) -> list[str]:
    """Which of our listeners collide with a socket already listening (same port, same or wildcard address)."""
    wildcards = {"0.0.0.0", "::"}
    conflicts = []
    for daemon, (address, port) in sorted(wanted.items()):
        for other, other_port in taken:
            if other_port == port and (other == address or other in wildcards or other == f"::ffff:{address}"):
                conflicts.append(f"{address}:{port} ({daemon}) is in use by another program (listening on {other})")
                break
    return conflicts


def check_ports(layout: Layout, ours: Iterable[str] = (), taken: set[tuple[str, int]] | None = None) -> None:
    """Fail when a port we need is taken, except by the daemons in `ours` (already running, recorded)."""
    owners = set(ours)
    wanted = {
        name: address
        for name, address in layout.listeners().items()
        if not any(name == owner or name.startswith(f"{owner}-") for owner in owners)
    }
    conflicts = port_conflicts(wanted, listening() if taken is None else taken)
    if conflicts:
        raise ClusterError(
            "ports the cluster needs are in use:\n  " + "\n  ".join(conflicts),
            "stop the program that holds them (`ss -ltnp` names it); if it is a cluster started from another "
            "state directory, run `mlops cluster down` there first",
        )
