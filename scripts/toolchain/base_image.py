"""The `base-image` step: the image every platform image builds FROM, pulled or made locally.

Where no registry is reachable the image is a debootstrap of Debian with python3, imported into
the engine; its root filesystem tarball is cached so a re-import needs no network.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from toolchain import apt, pins
from toolchain.context import Context
from toolchain.system import BootstrapError

log = logging.getLogger("bootstrap")

PULL_TIMEOUT_S = 25.0
IMPORT_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)


def image_present(ctx: Context, tag: str) -> bool:
    return ctx.system.run(["docker", "image", "inspect", tag], check=False, timeout=30).returncode == 0


def _require_engine(ctx: Context) -> None:
    if ctx.system.which("docker") is None or ctx.system.run(["docker", "info"], check=False, timeout=30).returncode:
        raise BootstrapError(
            "no Docker engine answers `docker info`", "run `scripts/bootstrap.py --steps docker` first"
        )


def try_pull(ctx: Context, upstream: str, tag: str, timeout: float = PULL_TIMEOUT_S) -> bool:
    try:
        proc = ctx.system.run(["docker", "pull", upstream], check=False, timeout=timeout)
    except BootstrapError as exc:
        log.info("  docker pull %s gave up: %s", upstream, exc.problem)
        return False
    if proc.returncode != 0:
        log.info("  docker pull %s failed: %s", upstream, (proc.stderr or proc.stdout).strip().splitlines()[-1:])
        return False
    ctx.system.run(["docker", "tag", upstream, tag])
    return True


def mirror() -> str:
    return apt.debian_mirror(pins.DEBIAN_SUITE, pins.DEBIAN_MIRROR)


def rootfs_tarball(ctx: Context) -> Path:
    """The cached debootstrap root filesystem, keyed by suite, mirror and package list."""
    spec = f"{pins.DEBIAN_SUITE}|{mirror()}|minbase|{','.join(pins.BASE_IMAGE_PACKAGES)}"
    key = hashlib.sha256(spec.encode()).hexdigest()[:12]
    return ctx.cache / "base-image" / f"debian-{pins.DEBIAN_SUITE}-minbase-{key}.tar"


def debootstrap(ctx: Context, tarball: Path) -> None:
    if ctx.system.which("debootstrap") is None:
        apt.ensure(ctx, ["debootstrap"], "the base image is built with it when no image can be pulled")
    root = tarball.with_suffix(".rootfs")
    shutil.rmtree(root, ignore_errors=True)
    source = mirror()
    log.info("  debootstrap %s from %s into %s (about a minute)", pins.DEBIAN_SUITE, source, root)
    try:
        ctx.system.run_logged(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(pins.BASE_IMAGE_PACKAGES)}",
                pins.DEBIAN_SUITE,
                root,
                source,
            ],
            ctx.log_file("debootstrap"),
            timeout=1800,
        )
        # Package caches and apt lists are dead weight in an image that apt-get updates anyway.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / junk).glob("*"):
                if item.is_file():
                    item.unlink()
        partial = tarball.with_name(tarball.name + ".part")
        ctx.system.run(["tar", "-C", root, "--numeric-owner", "-cf", partial, "."], timeout=600)
        partial.replace(tarball)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(ctx: Context, tag: str = pins.BASE_IMAGE, upstream: str = pins.BASE_IMAGE_UPSTREAM) -> str:
    _require_engine(ctx)
    if image_present(ctx, tag):
        return f"{tag} present"
    if try_pull(ctx, upstream, tag):
        return f"pulled {upstream} as {tag}"
    tarball = rootfs_tarball(ctx)
    built = not tarball.is_file()
    if built:
        tarball.parent.mkdir(parents=True, exist_ok=True)
        debootstrap(ctx, tarball)
    changes = [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
    ctx.system.run(["docker", "import", *changes, tarball, tag], timeout=600)
    probe = ctx.system.run(["docker", "run", "--rm", "--network", "none", tag, "python3", "--version"], timeout=120)
    origin = "debootstrap" if built else "cached rootfs"
    return f"imported {tag} from {origin} {tarball.name} ({probe.stdout.strip()})"


def check(ctx: Context) -> str:
    _require_engine(ctx)
    if not image_present(ctx, pins.BASE_IMAGE):
        raise BootstrapError(f"image {pins.BASE_IMAGE} is missing", "run `scripts/bootstrap.py --steps base-image`")
    return f"{pins.BASE_IMAGE} present"
