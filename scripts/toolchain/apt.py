"""Debian packages the bootstrap may install itself: only as root on Debian, never elsewhere."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from toolchain.context import Context
from toolchain.system import BootstrapError

log = logging.getLogger("bootstrap")

_updated: set[str] = set()


def is_debian(os_release: Path = Path("/etc/os-release")) -> bool:
    try:
        text = os_release.read_text(encoding="utf-8")
    except OSError:
        return False
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    ids = {fields.get("ID", "").strip('"')} | set(fields.get("ID_LIKE", "").strip('"').split())
    return "debian" in ids


def can_install(ctx: Context) -> bool:
    return os.geteuid() == 0 and is_debian() and ctx.system.which("apt-get") is not None


def missing(ctx: Context, packages: Sequence[str]) -> list[str]:
    if ctx.system.which("dpkg-query") is None:
        return list(packages)
    absent = []
    for package in packages:
        proc = ctx.system.run(["dpkg-query", "-W", "-f=${Status}", package], check=False, timeout=30)
        if "install ok installed" not in proc.stdout:
            absent.append(package)
    return absent


def ensure(ctx: Context, packages: Sequence[str], why: str) -> list[str]:
    """Install the packages that are missing; returns what was installed."""
    absent = missing(ctx, packages)
    if not absent:
        return []
    if not can_install(ctx):
        raise BootstrapError(
            f"{', '.join(absent)} missing ({why}), and this is not root on Debian, so the bootstrap "
            "does not install them",
            f"install {', '.join(absent)} with your system's package manager, then run the bootstrap again",
        )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if "apt" not in _updated:
        log.info("  apt-get update")
        ctx.system.run(["apt-get", "update"], env=env, timeout=600)
        _updated.add("apt")
    log.info("  apt-get install -y %s", " ".join(absent))
    ctx.system.run(["apt-get", "install", "-y", "--no-install-recommends", *absent], env=env, timeout=1200)
    return absent
