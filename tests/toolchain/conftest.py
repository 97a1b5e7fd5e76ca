"""Fixtures for the bootstrap's tests: fake executables on a PATH of their own, local URLs.

The code under test runs for real; only the outside world (pulumi, go, docker, get.pulumi.com)
is replaced, by small scripts and a loopback HTTP server.
"""

from __future__ import annotations

import functools
import http.server
import stat
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port
from toolchain.context import Context
from toolchain.system import System


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "fakebin"
    path.mkdir()
    return path


@pytest.fixture
def make_exe(bin_dir: Path) -> Callable[..., Path]:
    """Write an executable shell script; `directory` defaults to the fake PATH entry."""

    def make(name: str, body: str, directory: Path | None = None) -> Path:
        target = (directory or bin_dir) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("#!/bin/sh\n" + textwrap.dedent(body).lstrip(), encoding="utf-8")
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return target

    return make


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a venv whose python is a stub: steps only need .venv/bin to exist."""
    root = tmp_path / "repo"
    (root / ".venv" / "bin").mkdir(parents=True)
    python = root / ".venv" / "bin" / "python"
    python.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    python.chmod(0o755)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["pulumi==3.272.0", "pulumi-kubernetes==4.25.0a1768448096"]\n',
        encoding="utf-8",
    )
    return root


@pytest.fixture
def ctx(tmp_path: Path, repo: Path, bin_dir: Path) -> Context:
    """A context whose PATH holds only the fake executables, plus /bin for the scripts' shell."""
    return Context(
        repo=repo,
        cache=tmp_path / "cache",
        system=System(path=f"{bin_dir}:/usr/bin:/bin"),
        download_timeout=2.0,
    )


@pytest.fixture
def unreachable_url() -> str:
    """A loopback port nobody listens on: the connection is refused at once."""
    return f"http://127.0.0.1:{free_port()}/pulumi.tar.gz"


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """A directory served on 127.0.0.1; yields (directory, base URL, paths requested so far)."""
    root = tmp_path / "www"
    root.mkdir()
    requested: list[str] = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            requested.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


FAKE_SUM = "h1:served-by-the-fake-go="


class EveryModulePinnedAs(dict):  # type: ignore[type-arg]
    """The fake `go` serves one module for every name; each is taken as pinned at the sum it reports."""

    def get(self, key: object, default: object = None) -> str:
        return FAKE_SUM


FAKE_GO = """
echo "$*" >> {log}
case "$1 $2" in
  "mod download") echo '{{"Path": "m", "Version": "v", "Dir": "{moddir}", "Sum": "{FAKE_SUM}"}}' ;;
  "env GOVERSION") echo go1.26.0 ;;
  "mod tidy") touch go.sum ;;
  "build -o"|"install "*) ;;
esac
if [ "$1" = build ]; then
  shift; out=""; ver="built-from-$(pwd)"
  while [ $# -gt 0 ]; do
    case "$1" in -o) out="$2"; shift ;; -ldflags) ver="${{2##*=}}"; shift ;; esac
    shift
  done
  printf '#!/bin/sh\necho %s\n' "$ver" > "$out"
  chmod +x "$out"
fi
"""


@pytest.fixture
def fake_go(tmp_path: Path, make_exe: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `go` that serves one fake module and builds scripts that echo their -X version.

    Returns the log file of its invocations, one line per call.
    """
    from toolchain import pins

    monkeypatch.setattr(pins, "GO_MODULE_SUMS", EveryModulePinnedAs())
    moddir = tmp_path / "gomod"
    (moddir / "python" / "cmd").mkdir(parents=True)
    (moddir / "python" / "dist").mkdir(parents=True)
    (moddir / "go.mod").write_text(
        "module github.com/pulumi/pulumi/pkg/v3\n"
        "replace github.com/pulumi/pulumi/sdk/v3 => ../sdk\n"
        "replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-1\n"
    )
    (moddir / "python" / "cmd" / "pulumi-language-python-exec").write_text("#!/usr/bin/env python3\n")
    (moddir / "python" / "dist" / "pulumi-resource-pulumi-python").write_text("#!/bin/sh\n")
    log = tmp_path / "go-calls.log"
    log.touch()
    make_exe("go", FAKE_GO.format(log=log, moddir=moddir, FAKE_SUM=FAKE_SUM))
    return log
