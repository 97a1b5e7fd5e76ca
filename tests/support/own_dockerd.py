"""A Docker engine of a test's own: a second dockerd beside the machine's, which the test may stop and start.

Its data root, exec root, socket and pidfile are its own (`mlops-fd-<hex>` under /var/lib and /run), so
stopping it touches no container of anyone else. It writes no iptables rules (`--iptables=false`) and its
default bridge is one of its own (`mfd-<hex>`, made before it starts and removed with it), so it never
rewrites the main engine's chains. Published loopback ports go through the userland proxy. Two flags it
must never get, because dockerd 20.10 then deletes the host's `docker0` (the main engine's default bridge,
whose builds then fail with "could not find bridge docker0"): `--bridge=none` (at every start), and
`--default-address-pool` (at every restart, when it clears its stale default network). So its networks take
their subnets from the test (`create_network`, in a /16 no route of this host uses), which the docker
provider adopts by name and labels. Where `br_netfilter` sends bridged traffic through the host's FORWARD
chain (policy DROP under the main engine), one rule of its own lets that /16 talk to itself; it is removed
with the engine.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1


def why_not_available() -> str:
    """Empty when this process may run a dockerd of its own here."""
    if os.geteuid() != 0:
        return "a dockerd of the test's own needs root"
    for tool in ("dockerd", "iptables", "docker"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH"
    return ""


def _free_pool() -> str:
    """A 10.x.0.0/16 that no route of this host (the main engine's bridges, a cluster) overlaps, picked at
    random: another test's engine has no route until its first network exists."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    free = [second for second in range(200, 250) if f"10.{second}." not in routes]
    if not free:
        raise RuntimeError("no free 10.x.0.0/16 for the test's own engine")
    return f"10.{random.choice(free)}.0.0/16"


def _die_with_parent() -> None:
    # If the test process dies, the engine is stopped (SIGTERM: it stops its containers) rather than orphaned.
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class OwnEngine:
    name: str = field(default_factory=lambda: f"mlops-fd-{uuid.uuid4().hex[:6]}")
    pool: str = field(default_factory=_free_pool)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bridge(self) -> str:
        return "mfd-" + self.name.removeprefix("mlops-fd-")

    def make_bridge(self) -> None:
        """The engine's default bridge, on the last /24 of its pool (its networks take the first ones)."""
        gateway = self.pool.replace(".0.0/16", ".255.1/24")
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True, capture_output=True)
            subprocess.run(["ip", "addr", "add", gateway, "dev", self.bridge], check=True, capture_output=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True, capture_output=True)

    @property
    def data_root(self) -> Path:
        return Path("/var/lib") / self.name

    @property
    def exec_root(self) -> Path:
        return Path("/run") / self.name

    @property
    def socket(self) -> Path:
        return Path(f"/run/{self.name}.sock")

    @property
    def pidfile(self) -> Path:
        return Path(f"/run/{self.name}.pid")

    @property
    def log(self) -> Path:
        return Path(f"/tmp/{self.name}.log")

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def forward_rule(self) -> list[str]:
        return ["FORWARD", "-s", self.pool, "-d", self.pool, "-m", "comment", "--comment", self.name, "-j", "ACCEPT"]

    def args(self) -> list[str]:
        return [
            "dockerd",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--host={self.host}",
            f"--pidfile={self.pidfile}",
            "--iptables=false",
            "--ip6tables=false",
            f"--bridge={self.bridge}",
            "--userland-proxy=true",
            # Its own containerd namespaces too, in case dockerd attaches to a system containerd.
            f"--containerd-namespace={self.name}",
            f"--containerd-plugins-namespace={self.name}-plugins",
        ]

    def create_network(self, name: str, labels: dict[str, str]) -> str:
        """A bridge network on the first free /24 of the pool (the engine has no address pool of its own)."""
        import docker.types

        client = self.client()
        taken = {c["Subnet"] for n in client.networks.list() for c in (n.attrs.get("IPAM") or {}).get("Config") or []}
        prefix = self.pool.removesuffix("0.0/16")
        subnet = next(f"{prefix}{third}.0/24" for third in range(255) if f"{prefix}{third}.0/24" not in taken)
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        client.networks.create(name, driver="bridge", labels=labels, ipam=ipam, check_duplicate=True)
        return subnet

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.host, timeout=900)

    def start(self, within_s: float = 120) -> float:
        """Start the engine (the same flags every time) and wait until it answers; the seconds it took."""
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.args(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        deadline = started + within_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd {self.name} exited {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(Exception):
                if self.client().ping():
                    return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"dockerd {self.name} did not answer within {within_s} s: {self.log_tail()}")

    def stop(self, within_s: float = 180) -> float:
        """SIGTERM, as a service manager stops it (it stops its containers first); the seconds it took."""
        started = time.monotonic()
        if self.process is None or self.process.poll() is not None:
            return 0.0
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=within_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=60)
        return time.monotonic() - started

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def allow_forwarding(self) -> None:
        forwarding = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
        if forwarding.exists() and forwarding.read_text().strip() == "1":
            subprocess.run(["iptables", "-I", *self.forward_rule], check=True, capture_output=True)

    def remove_forwarding(self) -> None:
        while subprocess.run(["iptables", "-D", *self.forward_rule], capture_output=True).returncode == 0:
            pass

    def load_images(self, refs: list[str]) -> float:
        """Copy images from the machine's engine into this one (`docker save | docker load`, shared layers
        once); the seconds it took."""
        started = time.monotonic()
        own = {**os.environ, "DOCKER_HOST": self.host}
        main = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
        save = subprocess.Popen(["docker", "save", *refs], stdout=subprocess.PIPE, env=main)
        load = subprocess.run(["docker", "load", "--quiet"], stdin=save.stdout, env=own, capture_output=True, text=True)
        assert save.stdout is not None
        save.stdout.close()
        if save.wait(timeout=900) != 0 or load.returncode != 0:
            raise RuntimeError(f"copying {refs} into {self.name} failed: {load.stderr[-2000:]}")
        return time.monotonic() - started

    def pool_links(self) -> list[str]:
        """The host's links with an address in this engine's pool: its networks' bridges, which outlive it."""
        prefix = self.pool.removesuffix("0.0/16")
        listing = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
        return sorted({f.split()[1] for f in listing.splitlines() if f" inet {prefix}" in f})

    def remove(self) -> None:
        """Stop the engine and remove everything it owns: data root, exec root, socket, pidfile, rule, log."""
        self.stop()
        self.remove_forwarding()
        for link in {self.bridge, *self.pool_links()}:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        for root in (self.exec_root, self.data_root):
            # Mounts a killed engine left behind (overlays, shm, netns) must go before the tree can.
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
            for mount in sorted((m for m in mounts if m.startswith(f"{root}/")), key=len, reverse=True):
                subprocess.run(["umount", "-l", mount], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
        for path in (self.socket, self.pidfile, self.log):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def own_engine() -> Iterator[OwnEngine]:
    """A started engine of the caller's own, stopped and removed with its data root whatever happens."""
    engine = OwnEngine()
    try:
        engine.allow_forwarding()
        engine.make_bridge()
        engine.start()
        yield engine
    finally:
        engine.remove()
