"""Asking the cluster how it is: health endpoints, kubectl, and a DNS query to the cluster's DNS."""

from __future__ import annotations

import json
import random
import socket
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops.cluster.daemons import Health
from mlops.cluster.layout import ClusterError


def healthy(health: Health, timeout: float = 2.0) -> bool:
    if health.url.startswith("unix://"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(health.url.removeprefix("unix://"))
            except OSError:
                return False
            return True
    context = None
    if health.url.startswith("https://"):
        if health.ca is not None:
            context = ssl.create_default_context(cafile=str(health.ca))
        else:  # a daemon's self-signed serving certificate on loopback
            context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(health.url, timeout=timeout, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def wait_for(check: Callable[[], bool], what: str, timeout: float, hint: str = "", interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} not ready after {timeout:.0f}s", hint)
        time.sleep(interval)


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig

    def run(
        self, args: Sequence[str], stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def checked(self, args: Sequence[str], stdin: str | None = None, timeout: float = 60) -> str:
        proc = self.run(args, stdin, timeout)
        if proc.returncode != 0:
            raise ClusterError(f"`kubectl {' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()[-800:]}")
        return proc.stdout

    def get(self, args: Sequence[str]) -> dict[str, Any] | None:
        proc = self.run(["get", *args, "-o", "json"], timeout=20)
        return json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout else None

    def node_ready(self, node: str, since: datetime | None = None) -> bool:
        """Ready, and (with `since`) reported by a kubelet after that time, not a stale status in etcd."""
        found = self.get(["node", node])
        for condition in (found or {}).get("status", {}).get("conditions", []):
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                heartbeat = datetime.fromisoformat(condition.get("lastHeartbeatTime", "1970-01-01T00:00:00Z"))
                return since is None or heartbeat >= since
        return False

    def deployment_available(self, namespace: str, name: str) -> bool:
        found = self.get(["-n", namespace, "deployment", name])
        status = (found or {}).get("status", {})
        wanted = (found or {}).get("spec", {}).get("replicas", 1)
        return (
            bool(found) and status.get("availableReplicas", 0) >= wanted and status.get("updatedReplicas", 0) >= wanted
        )


def dns_query(name: str, server: str, port: int = 53, timeout: float = 1.0) -> list[str]:
    """A-record answers for `name` from `server`, over UDP (empty when it does not answer)."""
    ident = random.randint(0, 0xFFFF)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (server, port))
            reply = sock.recv(2048)
        except OSError:
            return []
    return parse_a_records(reply, ident)


def parse_a_records(reply: bytes, ident: int) -> list[str]:
    got_id, flags, qdcount, ancount = struct.unpack(">HHHH", reply[:8])
    if got_id != ident or flags & 0x000F:
        return []
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(reply, offset) + 4
    answers = []
    for _ in range(ancount):
        offset = _skip_name(reply, offset)
        rtype, _cls, _ttl, length = struct.unpack(">HHIH", reply[offset : offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            answers.append(socket.inet_ntoa(reply[offset : offset + 4]))
        offset += length
    return answers


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:  # compression pointer
            return offset + 2
        offset += length + 1
