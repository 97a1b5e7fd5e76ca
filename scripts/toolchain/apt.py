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

APT_SOURCES = Path("/etc/apt")
MIRROR_ENV = "MLOPS_DEBIAN_MIRROR"


def _source_entries(root: Path) -> list[tuple[str, list[str]]]:
    """(URI, suites) of every enabled `deb` source: one-line `.list` files and deb822 `.sources` files."""
    entries: list[tuple[str, list[str]]] = []
    lists = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for path in lists:
        for line in _lines(path):
            words = _strip_options(line)
            if len(words) >= 3 and words[0] == "deb":
                entries.append((words[1], [words[2]]))
    for path in sorted((root / "sources.list.d").glob("*.sources")):
        for stanza in "\n".join(_lines(path)).split("\n\n"):
            fields = dict(
                (key.strip().lower(), value.strip())
                for key, _, value in (line.partition(":") for line in stanza.splitlines())
                if value
            )
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                suites = fields.get("suites", "").split()
                entries.extend((uri, suites) for uri in fields.get("uris", "").split())
    return entries


def _lines(path: Path) -> list[str]:
    """A sources file without comments; blank lines kept (they separate deb822 stanzas)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    # A comment line is dropped, not blanked: inside a deb822 stanza a blank line would end the stanza.
    return [line.split("#", 1)[0].rstrip() for line in text.splitlines() if not line.lstrip().startswith("#")]


def _strip_options(line: str) -> list[str]:
    """The words of a one-line source without its `[arch=... signed-by=...]` options."""
    before, _, after = line.partition("[")
    if not after:
        return before.split()
    return before.split() + after.partition("]")[2].split()


def debian_mirror(suite: str, default: str, root: Path = APT_SOURCES) -> str:
    """The Debian mirror this machine's apt already uses for `suite`, so a machine behind a mirror (or a
    proxy that only allows its mirror) builds the base image from it; `MLOPS_DEBIAN_MIRROR` wins."""
    override = os.environ.get(MIRROR_ENV, "").strip()
    if override:
        return override
    for uri, suites in _source_entries(root):
        if suite in suites and uri.startswith(("http://", "https://", "file:/")):
            return uri.rstrip("/")
    return default


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
