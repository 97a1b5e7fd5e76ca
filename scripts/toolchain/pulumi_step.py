"""The `pulumi` step: the CLI, the Python language host and its helper scripts, linked into .venv/bin."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

from toolchain import cache, golang, pins
from toolchain.context import Context
from toolchain.pulumi_cli import HELPER_SCRIPTS, Cli, cli_version, resolve
from toolchain.system import BootstrapError
from toolchain.versions import Version, VersionError

log = logging.getLogger("bootstrap")

LANGUAGE_HOST = "pulumi-language-python"
LANGUAGE_HOST_SOURCES = Path("tools") / "pulumi-language-python"
# Pulumi looks for its bundled plugins next to the resolved `pulumi` binary, so these four files
# must share one directory for `.venv/bin/pulumi` to work without .venv/bin on PATH.
BUNDLE = ("pulumi", LANGUAGE_HOST, *HELPER_SCRIPTS)


def language_host(ctx: Context, cli: Cli) -> Path:
    """The host shipped with the CLI, else ours built from tools/ (cached by its content hash)."""
    shipped = cli.directory / LANGUAGE_HOST
    if shipped.is_file():
        return shipped
    sources = ctx.repo / LANGUAGE_HOST_SOURCES
    if not (sources / "go.mod").is_file():
        raise BootstrapError(
            f"the Python language host is missing: the Pulumi CLI from {cli.origin} ships no "
            f"{LANGUAGE_HOST} and {sources} has no go.mod to build one from",
            f"add the language host sources under {LANGUAGE_HOST_SOURCES}, or put a Pulumi release "
            "that bundles pulumi-language-python on PATH",
        )
    key = cache.hash_tree(sources)[:16]
    entry = ctx.cache / "language-python" / key

    def produce(scratch: Path) -> None:
        log.info("  building %s from %s (key %s)", LANGUAGE_HOST, sources, key)
        go = golang.find_go(ctx.system)
        ctx.system.run_logged(
            [go, "build", "-o", scratch / LANGUAGE_HOST, "."],
            ctx.log_file(f"language-python-{key}"),
            cwd=sources,
            env=golang.go_env(),
        )

    cache.publish(entry, produce)
    return entry / LANGUAGE_HOST


def launcher_overrides(ctx: Context) -> dict[str, Path]:
    """Helper scripts our language host ships in launchers/, replacing the SDK's copies.

    The SDK's dynamic-provider launcher resolves the virtualenv against the program directory,
    which is wrong for `main: infra/` (pulumi/pulumi#7061); ours resolves it against the project.
    """
    launchers = ctx.repo / LANGUAGE_HOST_SOURCES / "launchers"
    return {name: launchers / name for name in HELPER_SCRIPTS if (launchers / name).is_file()}


def _place(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def bundle(ctx: Context, cli: Cli, host: Path, overrides: dict[str, Path]) -> Path:
    """One directory holding the CLI, the language host and the helpers (hard links, cheap)."""
    if host.parent == cli.directory and not overrides:
        return cli.directory
    identity = f"{cli.directory.resolve()}|{host.resolve()}|{cache.hash_files(overrides.values(), ctx.repo)}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    entry = ctx.cache / "pulumi" / "bundles" / f"v{cli.version}-{key}"

    def produce(scratch: Path) -> None:
        for name in BUNDLE:
            if name in overrides:
                # Copied, not linked: an edit in the work tree must not change a published bundle.
                shutil.copy2(overrides[name], scratch / name)
                cache.make_executable(scratch / name)
                continue
            source = host if name == LANGUAGE_HOST else cli.directory / name
            if source.is_file():
                _place(source, scratch / name)

    return cache.publish(entry, produce)


def _link_all(ctx: Context, directory: Path) -> list[str]:
    changed = []
    for name in BUNDLE:
        if (directory / name).is_file() and cache.link(directory / name, ctx.venv_bin / name):
            changed.append(name)
    return changed


def run(ctx: Context) -> str:
    ctx.require_venv()
    ctx.cache.mkdir(parents=True, exist_ok=True)
    cli = resolve(ctx, pins.PULUMI_VERSION)
    log.info("  pulumi v%s from %s: %s", cli.version, cli.origin, cli.directory)
    try:
        host = language_host(ctx, cli)
    except BootstrapError:
        # Still link the CLI, so everything that needs only `pulumi` (plugins, state) works.
        _link_all(ctx, cli.directory)
        raise
    overrides = launcher_overrides(ctx)
    changed = _link_all(ctx, bundle(ctx, cli, host, overrides))
    linked = cli_version(ctx, ctx.venv_bin / "pulumi")
    if linked < Version.parse(pins.PULUMI_VERSION):
        raise BootstrapError(
            f".venv/bin/pulumi reports v{linked}, expected at least v{pins.PULUMI_VERSION}",
            f"remove {ctx.venv_bin / 'pulumi'} and run the bootstrap again",
        )
    what = f"linked {', '.join(changed)}" if changed else "already linked"
    ours = f"; our {', '.join(overrides)}" if overrides else ""
    return f"pulumi v{linked} ({cli.origin}), language host {host}{ours}; {what}"


def check(ctx: Context) -> str:
    """Report what is installed; raise when something is missing. Changes nothing."""
    missing = [name for name in BUNDLE if not (ctx.venv_bin / name).exists()]
    if missing:
        raise BootstrapError(
            f"missing in {ctx.venv_bin}: {', '.join(missing)}", "run `scripts/bootstrap.py --steps pulumi`"
        )
    try:
        linked = cli_version(ctx, ctx.venv_bin / "pulumi")
    except VersionError as exc:
        raise BootstrapError(str(exc), "run `scripts/bootstrap.py --steps pulumi`") from exc
    if linked < Version.parse(pins.PULUMI_VERSION):
        raise BootstrapError(
            f"pulumi is v{linked}, pinned v{pins.PULUMI_VERSION}", "run `scripts/bootstrap.py --steps pulumi`"
        )
    return f"pulumi v{linked} with {LANGUAGE_HOST} and helper scripts in {ctx.venv_bin}"
