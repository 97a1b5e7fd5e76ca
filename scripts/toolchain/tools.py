"""The `tools` step: developer tools with no wheel on PyPI, installed from Go modules into the venv."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from toolchain import cache, golang, pins
from toolchain.context import Context
from toolchain.system import BootstrapError

log = logging.getLogger("bootstrap")


@dataclass(frozen=True)
class GoTool:
    name: str
    package: str
    version: str
    module: str
    """The module `package` is in: its download is checked against its pinned checksum before the install."""

    def entry(self, ctx: Context) -> Path:
        return ctx.cache / "tools" / f"{self.name}-{self.version}"


# actionlint checks .github/workflows in the test suite.
TOOLS = (
    GoTool(
        "actionlint",
        "github.com/rhysd/actionlint/cmd/actionlint",
        pins.ACTIONLINT_VERSION,
        "github.com/rhysd/actionlint",
    ),
)


def install(ctx: Context, tool: GoTool) -> Path:
    """`go install package@version` into a cache entry of its own (GOBIN), once per version."""

    def produce(scratch: Path) -> None:
        go = golang.find_go(ctx.system)
        golang.module_source(ctx.system, tool.module, tool.version, ctx.cache / "build" / "go-download")
        log.info("  go install %s@%s", tool.package, tool.version)
        ctx.system.run_logged(
            [go, "install", f"{tool.package}@{tool.version}"],
            ctx.log_file(f"{tool.name}-{tool.version}"),
            cwd=ctx.cache,
            env={**golang.go_env(), "GOBIN": str(scratch)},
        )

    return cache.publish(tool.entry(ctx), produce) / tool.name


def run(ctx: Context) -> str:
    venv_bin = ctx.require_venv()
    ctx.cache.mkdir(parents=True, exist_ok=True)
    done = []
    for tool in TOOLS:
        binary = install(ctx, tool)
        changed = cache.link(binary, venv_bin / tool.name)
        version = ctx.system.run([venv_bin / tool.name, "-version"], timeout=30).stdout.splitlines()[0]
        done.append(f"{tool.name} {version}" + (" (linked)" if changed else ""))
    return ", ".join(done)


def check(ctx: Context) -> str:
    missing = [t.name for t in TOOLS if not (ctx.venv_bin / t.name).exists()]
    if missing:
        raise BootstrapError(
            f"missing in {ctx.venv_bin}: {', '.join(missing)}", "run `scripts/bootstrap.py --steps tools`"
        )
    return ", ".join(f"{t.name} {t.version}" for t in TOOLS) + f" in {ctx.venv_bin}"
