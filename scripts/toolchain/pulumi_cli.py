"""Find or make the pinned Pulumi CLI: PATH, then the cache, then the official download, then a build."""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolchain import cache, golang, pins
from toolchain.checksums import Download, fetch_verified
from toolchain.context import Context, host_platform
from toolchain.system import BootstrapError, FetchError
from toolchain.versions import Version, VersionError, parse_cli_version

log = logging.getLogger("bootstrap")

CLI_URL = "https://get.pulumi.com/releases/sdk/pulumi-v{version}-{os}-{arch}.tar.gz"
CHECKSUMS_NAME = "pulumi-{version}-checksums.txt"
"""The publisher's sha256 list for a release, beside its archives."""
PKG_MODULE = "github.com/pulumi/pulumi/pkg/v3"
SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3"
CLI_PACKAGE = "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
VERSION_VARIABLE = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
# Shipped in the sdk/v3 module: the language host runs programs through the first and answers
# for the `pulumi-python` resource plugin through the second.
HELPER_SCRIPTS = {
    "pulumi-language-python-exec": "python/cmd/pulumi-language-python-exec",
    "pulumi-resource-pulumi-python": "python/dist/pulumi-resource-pulumi-python",
}


@dataclass(frozen=True)
class Cli:
    directory: Path
    origin: str
    version: Version

    @property
    def pulumi(self) -> Path:
        return self.directory / "pulumi"


def cli_urls(version: str) -> list[str]:
    os_name, arch = host_platform()
    return [CLI_URL.format(version=version, os=os_name, arch="x64" if arch == "amd64" else arch)]


def cli_version(ctx: Context, pulumi: Path) -> Version:
    proc = ctx.system.run([pulumi, "version"], env=pins.pulumi_env({}), timeout=60)
    return parse_cli_version(proc.stdout)


def from_path(ctx: Context, pinned: Version) -> Cli | None:
    """A `pulumi` the user already has, if it is exactly the pin (our own venv link excluded): an older
    one lacks what the project uses, and a newer one changes the engine under a reviewed preview."""
    exe = ctx.system.which("pulumi", exclude=[ctx.venv_bin])
    if exe is None:
        log.info("  no pulumi on PATH")
        return None
    try:
        found = cli_version(ctx, exe)
    except (BootstrapError, VersionError) as exc:
        log.info("  pulumi at %s does not report a version (%s); not using it", exe, str(exc).splitlines()[0])
        return None
    if found != pinned:
        log.info("  pulumi at %s is v%s, not the pinned v%s; not using it", exe, found, pinned)
        return None
    return Cli(exe.resolve().parent, "PATH", found)


def from_cache(ctx: Context, version: str) -> Cli | None:
    for origin in ("download", "build"):
        entry = ctx.cache / "pulumi" / f"v{version}-{origin}"
        if cache.is_complete(entry):
            return Cli(entry, f"cache ({origin})", Version.parse(version))
    return None


def _extract(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")


def from_download(ctx: Context, version: str, urls: Sequence[str]) -> Cli | None:
    """The official archive, used only when its sha256 matches the pinned one or the release's checksums file."""
    entry = ctx.cache / "pulumi" / f"v{version}-download"
    entry.parent.mkdir(parents=True, exist_ok=True)
    for url in urls:
        try:
            with tempfile.TemporaryDirectory(dir=entry.parent) as tmp:
                archive = Path(tmp) / "pulumi.tar.gz"
                download = Download(url, f"{url.rsplit('/', 1)[0]}/{CHECKSUMS_NAME.format(version=version)}")
                fetch_verified(ctx.system, download, archive, ctx.download_timeout)

                def produce(scratch: Path, archive: Path = archive) -> None:
                    _extract(archive, scratch / "unpacked")
                    inner = scratch / "unpacked" / "pulumi"
                    for item in (inner if inner.is_dir() else scratch / "unpacked").iterdir():
                        item.rename(scratch / item.name)
                    shutil.rmtree(scratch / "unpacked")

                cache.publish(entry, produce)
        except FetchError as exc:
            log.info("  download unavailable: %s", exc)
            continue
        except (tarfile.TarError, OSError) as exc:
            log.info("  download from %s is not a usable archive: %s", url, exc)
            continue
        reported = _runs_as(ctx, entry / "pulumi")
        if reported == Version.parse(version):
            return Cli(entry, "download", reported)
        shutil.rmtree(entry, ignore_errors=True)
        log.info("  the archive from %s holds no working pulumi v%s (found: %s)", url, version, reported)
    return None


def _runs_as(ctx: Context, pulumi: Path) -> Version | None:
    if not pulumi.is_file():
        return None
    try:
        return cli_version(ctx, pulumi)
    except (BootstrapError, VersionError):
        return None


def from_build(ctx: Context, version: str) -> Cli:
    """Build the CLI from the Go module proxy and add the helper scripts from the sdk module."""
    entry = ctx.cache / "pulumi" / f"v{version}-build"
    tag = f"v{version}"
    scratch_dir = ctx.cache / "build" / "go-download"
    pkg_dir = golang.module_source(ctx.system, PKG_MODULE, tag, scratch_dir)
    sdk_dir = golang.module_source(ctx.system, SDK_MODULE, tag, scratch_dir)
    module = golang.MainModule(
        path="mlops.local/toolchain/pulumi-cli",
        requires={PKG_MODULE: tag, SDK_MODULE: tag},
        replaces=golang.module_replaces(pkg_dir / "go.mod"),
        files={"tools.go": f'//go:build tools\n\npackage tools\n\nimport _ "{CLI_PACKAGE}"\n'.encode()},
    )

    def produce(scratch: Path) -> None:
        log.info("  building pulumi %s from Go modules (log: %s)", tag, ctx.log_file(f"pulumi-cli-{tag}"))
        golang.build(
            ctx.system,
            module,
            ctx.cache / "build" / f"pulumi-cli-{tag}",
            CLI_PACKAGE,
            scratch / "pulumi",
            f"-X {VERSION_VARIABLE}={tag}",
            ctx.log_file(f"pulumi-cli-{tag}"),
        )
        for name, relative in HELPER_SCRIPTS.items():
            shutil.copyfile(sdk_dir / relative, scratch / name)
            cache.make_executable(scratch / name)

    cache.publish(entry, produce)
    return Cli(entry, "build", Version.parse(version))


def resolve(ctx: Context, version: str, urls: Sequence[str] | None = None) -> Cli:
    """PATH -> cache -> official download -> build; the first that works wins."""
    pinned = Version.parse(version)
    found = from_path(ctx, pinned) or from_cache(ctx, version)
    found = found or from_download(ctx, version, cli_urls(version) if urls is None else urls)
    if found:
        return found
    if ctx.system.which("go") is None:
        raise BootstrapError(
            f"Pulumi CLI v{version} is neither on PATH nor downloadable, and there is no Go toolchain to build it",
            golang.NO_GO_FIX,
        )
    return from_build(ctx, version)
