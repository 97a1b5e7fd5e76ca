"""Builds from Go modules: a main module of our own per tool, so the versions are ours to pin."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from toolchain import pins
from toolchain.system import BootstrapError, System

log = logging.getLogger("bootstrap")

NO_GO_FIX = (
    "install Go 1.24 or newer (https://go.dev/dl/, or `apt-get install golang` on a recent Debian) "
    "and make sure `go` is on PATH, or make get.pulumi.com reachable so nothing has to be built"
)


def find_go(system: System) -> Path:
    go = system.which("go")
    if go is None:
        raise BootstrapError("no Go toolchain on PATH, so nothing can be built from source", NO_GO_FIX)
    return go


def go_env() -> dict[str, str]:
    # Never fetch a different Go toolchain behind the user's back: the proxy may refuse it, and a
    # different compiler would also miss the build cache that makes rebuilds fast.
    return {"GOTOOLCHAIN": "local"}


def module_source(system: System, module: str, version: str, scratch: Path) -> Path:
    """The read-only directory of `module@version` in the module cache, downloading it if needed."""
    go = find_go(system)
    scratch.mkdir(parents=True, exist_ok=True)
    proc = system.run([go, "mod", "download", "-json", f"{module}@{version}"], cwd=scratch, env=go_env(), check=False)
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        info = {"Error": (proc.stdout + proc.stderr).strip()[-500:]}
    if proc.returncode != 0 or info.get("Error") or not info.get("Dir"):
        raise BootstrapError(
            f"the Go module proxy did not provide {module}@{version}: {info.get('Error', 'no Dir')}",
            "check GOPROXY (`go env GOPROXY`) and network access to it; on a machine with internet "
            "access the official download is used instead",
        )
    verify_sum(module, version, str(info.get("Sum", "")))
    return Path(info["Dir"])


def verify_sum(module: str, version: str, got: str) -> None:
    """The module's download hashes to its pinned value (`pins.GO_MODULE_SUMS`), or it is not built from."""
    key = f"{module}@{version}"
    pinned = pins.GO_MODULE_SUMS.get(key)
    if pinned is None:
        raise BootstrapError(
            f"no pinned checksum for the Go module {key}: nothing is built from a module nobody pinned",
            f'add `"{key}": "{got or "h1:..."}"` to GO_MODULE_SUMS in scripts/toolchain/pins.py after checking '
            f"it against $GOPROXY/sumdb/sum.golang.org/lookup/{key}",
        )
    if got != pinned:
        raise BootstrapError(
            f"the Go module {key} downloaded with checksum {got or '(none)'}, not the pinned {pinned}",
            "do not use this download: clear it (`go clean -modcache`) and check GOPROXY; a proxy that serves "
            "other content for a published version is tampering or broken",
        )


@dataclass
class MainModule:
    """A throwaway main module: requires what the tool needs and mirrors its replace directives."""

    path: str
    requires: Mapping[str, str]
    replaces: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)

    def go_mod(self, go_version: str) -> str:
        lines = [f"module {self.path}", "", f"go {go_version}", ""]
        lines += [f"require {mod} {ver}" for mod, ver in sorted(self.requires.items())]
        lines += [f"replace {old} => {new}" for old, new in sorted(self.replaces.items())]
        return "\n".join(lines) + "\n"

    def write(self, directory: Path, go_version: str) -> bool:
        """Write the module; True when `go mod tidy` has to (re)resolve it."""
        directory.mkdir(parents=True, exist_ok=True)
        go_mod = directory / "go.mod"
        wanted = self.go_mod(go_version)
        # Keep go.mod/go.sum from an earlier tidy when the requirements did not change: tidy then
        # has nothing to resolve and the step stays offline.
        marker = directory / "go.mod.requested"
        if not marker.is_file() or marker.read_text(encoding="utf-8") != wanted:
            go_mod.write_text(wanted, encoding="utf-8")
            (directory / "go.sum").unlink(missing_ok=True)
            marker.write_text(wanted, encoding="utf-8")
        stale = not (directory / "go.sum").is_file()
        for name, content in self.files.items():
            target = directory / name
            if not target.is_file() or target.read_bytes() != content:
                target.write_bytes(content)
        return stale


def module_replaces(go_mod: Path) -> dict[str, str]:
    """Replace directives of a dependency's go.mod that point at other module versions.

    Go ignores a dependency's replace directives, so a main module that builds it must repeat
    them; replacements by a local path (`=> ../sdk`) cannot be repeated and are left out.
    """
    text = go_mod.read_text(encoding="utf-8")
    lines: list[str] = []
    for block in re.findall(r"^replace\s*\((.*?)^\)", text, flags=re.M | re.S):
        lines += block.splitlines()
    lines += re.findall(r"^replace\s+([^(\n].*)$", text, flags=re.M)
    replaces: dict[str, str] = {}
    for line in lines:
        line = line.split("//")[0].strip()
        if "=>" not in line:
            continue
        old, new = (part.strip() for part in line.split("=>", 1))
        if new.startswith((".", "/")):
            continue
        replaces[old.split()[0]] = new
    return replaces


def local_go_version(system: System) -> str:
    proc = system.run([find_go(system), "env", "GOVERSION"], env=go_env())
    raw = proc.stdout.strip().removeprefix("go")
    return ".".join(raw.split(".")[:2]) or "1.24"


def build(
    system: System,
    module: MainModule,
    workdir: Path,
    package: str,
    output: Path,
    ldflags: str,
    log_file: Path,
) -> None:
    """`go mod tidy` then `go build -o output package` in `workdir`, output logged to `log_file`."""
    go = find_go(system)
    if module.write(workdir, local_go_version(system)):
        system.run_logged([go, "mod", "tidy"], log_file, cwd=workdir, env=go_env())
    # No time limit: a cold provider build takes over an hour on two busy cores, and what it compiled
    # stays in Go's build cache either way.
    system.run_logged(
        [go, "build", "-o", output, "-ldflags", ldflags, package], log_file, cwd=workdir, env=go_env(), timeout=None
    )
