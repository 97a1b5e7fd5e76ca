"""The `docker` step: a Docker engine that answers, started here when root on Debian."""

from __future__ import annotations

import logging
import subprocess
import time

from toolchain import apt, pins
from toolchain.context import Context
from toolchain.system import BootstrapError

log = logging.getLogger("bootstrap")

ENGINE_START_TIMEOUT_S = 90.0


def engine_version(ctx: Context) -> str | None:
    """The server version when an engine answers, else None."""
    if ctx.system.which("docker") is None:
        return None
    proc = ctx.system.run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False, timeout=30)
    version = proc.stdout.strip()
    return version if proc.returncode == 0 and version else None


def _start_dockerd(ctx: Context) -> None:
    dockerd = ctx.system.which("dockerd")
    if dockerd is None:
        raise BootstrapError("dockerd is not installed", "apt-get install -y docker.io")
    log_path = ctx.cache / "dockerd.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.info("  starting %s in the background (log: %s)", dockerd, log_path)
    with log_path.open("a", encoding="utf-8") as sink:
        # A session of its own: the engine must outlive this bootstrap process.
        subprocess.Popen(
            [str(dockerd)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=ctx.system.environ(),
        )


def _wait(ctx: Context, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = engine_version(ctx)
        if version:
            return version
        time.sleep(1.0)
    raise BootstrapError(
        f"dockerd did not answer `docker info` within {timeout:.0f}s",
        f"read {ctx.cache / 'dockerd.log'}; a stale /var/run/docker.pid or a second dockerd are common causes",
    )


def run(ctx: Context) -> str:
    # A fresh Debian machine lacks both packages; elsewhere the user's own Docker install counts.
    installed = (
        apt.ensure(ctx, pins.APT_PACKAGES, "the docker target and the base image") if apt.can_install(ctx) else []
    )
    note = f"; installed {', '.join(installed)}" if installed else ""
    version = engine_version(ctx)
    if version:
        return f"engine {version} answers{note}"
    if not apt.can_install(ctx):
        raise BootstrapError(
            "no Docker engine answers `docker info`",
            "install Docker (https://docs.docker.com/engine/install/) and start it "
            "(`sudo systemctl start docker`), make sure your user may use it, then run the bootstrap again",
        )
    _start_dockerd(ctx)
    return f"started dockerd (engine {_wait(ctx, ENGINE_START_TIMEOUT_S)}){note}"


def check(ctx: Context) -> str:
    version = engine_version(ctx)
    if not version:
        raise BootstrapError("no Docker engine answers `docker info`", "run `scripts/bootstrap.py --steps docker`")
    return f"engine {version} answers"
