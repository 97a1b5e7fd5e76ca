"""The `python` step: the project venv with the package installed editable, locked by constraints.txt.

uv installs it (seconds; pinned, itself installed from PyPI into the toolchain cache); where uv cannot be had or
fails, pip does (minutes: it resolves against the index through the network for every package)."""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path

from toolchain import pins
from toolchain.context import Context
from toolchain.system import BootstrapError

log = logging.getLogger("bootstrap")

STAMP = ".mlops-bootstrap-stamp"
EXTRAS = "dev"


def stamp_of(repo: Path) -> str:
    """The install's key: any change to the dependency declarations or the lock reinstalls."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        path = repo / name
        if not path.is_file():
            raise BootstrapError(f"{path} is missing", f"restore {name} from git (`git checkout -- {name}`)")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{digest.hexdigest()} extras={EXTRAS}"


def current_stamp(ctx: Context) -> str | None:
    path = ctx.venv / STAMP
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def run(ctx: Context) -> str:
    wanted = stamp_of(ctx.repo)
    python = ctx.venv_bin / "python"
    if python.exists() and current_stamp(ctx) == wanted:
        return f"{ctx.venv} is up to date with pyproject.toml and constraints.txt"
    created = not python.exists()
    if created:
        log.info("  creating %s", ctx.venv)
        ctx.system.run([sys.executable, "-m", "venv", ctx.venv], timeout=300)
    requirement = ["-c", "constraints.txt", "-e", f".[{EXTRAS}]"]
    uv = _uv(ctx)
    installed_by = "uv"
    try:
        if uv is None:
            raise BootstrapError("uv is not available", "pip installs instead")
        log_file = ctx.log_file("uv-install")
        log.info("  uv pip install -c constraints.txt -e '.[%s]' (log: %s)", EXTRAS, log_file)
        # The platform's certificates (a TLS-inspecting proxy's CA included), as pip uses them.
        uv_env = {"UV_NATIVE_TLS": "1", "UV_PYTHON_DOWNLOADS": "never"}
        ctx.system.run_logged(
            [uv, "pip", "install", "--python", python, *requirement], log_file, cwd=ctx.repo, env=uv_env, timeout=1800
        )
    except BootstrapError as exc:
        installed_by = "pip"
        log_file = ctx.log_file("pip-install")
        log.info("  %s; pip install -c constraints.txt -e '.[%s]' (minutes; log: %s)", exc.problem, EXTRAS, log_file)
        ctx.system.run_logged([python, "-m", "pip", "install", *requirement], log_file, cwd=ctx.repo, timeout=3600)
    (ctx.venv / STAMP).write_text(wanted + "\n", encoding="utf-8")
    return ("created " if created else "updated ") + f"{ctx.venv} from constraints.txt with {installed_by}"


def _uv(ctx: Context) -> Path | None:
    """uv at its pinned version, in a venv of its own in the toolchain cache (installed from PyPI once)."""
    tool = ctx.cache / "uv" / pins.UV_VERSION
    uv = tool / "bin" / "uv"
    if uv.exists():
        return uv
    try:
        ctx.system.run([sys.executable, "-m", "venv", "--clear", tool], timeout=300)
        ctx.system.run([tool / "bin" / "python", "-m", "pip", "install", "-q", f"uv=={pins.UV_VERSION}"], timeout=600)
    except BootstrapError as exc:
        log.info("  uv %s could not be installed (%s)", pins.UV_VERSION, exc.problem)
        return None
    return uv if uv.exists() else None


def check(ctx: Context) -> str:
    if not (ctx.venv_bin / "python").exists():
        raise BootstrapError(f"no virtualenv at {ctx.venv}", "run `scripts/bootstrap.py --steps python`")
    if current_stamp(ctx) != stamp_of(ctx.repo):
        raise BootstrapError(
            f"{ctx.venv} was not installed from the current pyproject.toml and constraints.txt",
            "run `scripts/bootstrap.py --steps python`",
        )
    return f"{ctx.venv} matches pyproject.toml and constraints.txt"
