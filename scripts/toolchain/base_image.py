"""The `base-image` step: the image every platform image builds FROM, pulled or made locally.

Where no registry is reachable the image is a debootstrap of Debian with python3, imported into
the engine; its root filesystem tarball is cached so a re-import needs no network.

The tag is a name that anything can be given (`docker tag`), so the step records what it pulled or built
beside the cache (`RECORD_FILE`): the image ID, the repo digest when pulled, and the hash of the recipe.
`infra.images` hashes that identity into every derived image's tag and the image provider refuses to
build FROM a tag that points at anything else; a recipe change (suite, packages, upstream) builds the base
again, and its new identity gives every derived image a new tag.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

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


RECORD_FILE = Path("base-image") / "identity.json"
"""Under the toolchain cache; read by `infra.images.base` (a test keeps the two paths equal)."""


def recipe() -> str:
    """What the base is made of, whichever way it is made: a change builds it again. The mirror is left
    out: it is where the same packages come from, and it differs between machines."""
    spec = [pins.BASE_IMAGE_UPSTREAM, pins.DEBIAN_SUITE, *pins.BASE_IMAGE_PACKAGES, "|", *IMPORT_CHANGES]
    return hashlib.sha256("\0".join(spec).encode()).hexdigest()[:16]


def engine_identity(ctx: Context, tag: str) -> dict[str, str] | None:
    """`{id, repo_digest}` of the image the engine has under `tag`, or None."""
    proc = ctx.system.run(
        ["docker", "image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}", tag], check=False, timeout=30
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    image_id, _, digests = proc.stdout.strip().partition(" ")
    repo_digests = json.loads(digests or "[]") or []
    return {"id": image_id, "repo_digest": repo_digests[0] if repo_digests else ""}


def read_record(ctx: Context) -> dict[str, Any]:
    path = ctx.cache / RECORD_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_record(ctx: Context, tag: str, identity: dict[str, str], origin: str) -> str:
    record = read_record(ctx)
    record[tag] = {**identity, "recipe": recipe(), "origin": origin}
    path = ctx.cache / RECORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    partial.replace(path)
    return identity["repo_digest"] or identity["id"]


def _record_made(ctx: Context, tag: str, origin: str) -> str:
    identity = engine_identity(ctx, tag)
    if identity is None:
        raise BootstrapError(f"{tag} is not in the engine right after it was {origin}", "run the step again")
    return write_record(ctx, tag, identity, origin)


def replaced_error(tag: str, found: str, recorded: str) -> BootstrapError:
    return BootstrapError(
        f"{tag} is {found}, not the {recorded} this bootstrap recorded: something else was given its name",
        f"remove that tag (`docker rmi {tag}`) and run `scripts/bootstrap.py --steps base-image`, which makes the "
        "base again and records it (every image built FROM it then gets a new tag)",
    )


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
    found = engine_identity(ctx, tag)
    recorded = read_record(ctx).get(tag)
    if found is not None and recorded is None:
        # Made before identities were recorded (or by hand): trusted as it is now, and pinned from here on.
        return f"{tag} present, recorded as {write_record(ctx, tag, found, 'adopted')}"
    if found is not None and recorded is not None:
        if found["id"] != recorded.get("id"):
            raise replaced_error(tag, found["id"], str(recorded.get("id")))
        if recorded.get("recipe") == recipe():
            return f"{tag} present ({found['repo_digest'] or found['id']})"
        log.info("  the recipe of %s changed: making it again", tag)
    if try_pull(ctx, upstream, tag):
        return f"pulled {upstream} as {tag}, recorded as {_record_made(ctx, tag, 'pulled')}"
    tarball = rootfs_tarball(ctx)
    built = not tarball.is_file()
    if built:
        tarball.parent.mkdir(parents=True, exist_ok=True)
        debootstrap(ctx, tarball)
    changes = [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
    ctx.system.run(["docker", "import", *changes, tarball, tag], timeout=600)
    probe = ctx.system.run(["docker", "run", "--rm", "--network", "none", tag, "python3", "--version"], timeout=120)
    origin = "debootstrap" if built else "cached rootfs"
    identity = _record_made(ctx, tag, "imported")
    return f"imported {tag} from {origin} {tarball.name} ({probe.stdout.strip()}), recorded as {identity}"


def check(ctx: Context) -> str:
    _require_engine(ctx)
    tag = pins.BASE_IMAGE
    found = engine_identity(ctx, tag)
    recorded = read_record(ctx).get(tag)
    if found is None or recorded is None:
        what = "missing" if found is None else "not recorded"
        raise BootstrapError(f"image {tag} is {what}", "run `scripts/bootstrap.py --steps base-image`")
    if found["id"] != recorded.get("id"):
        raise replaced_error(tag, found["id"], str(recorded.get("id")))
    return f"{tag} present ({found['repo_digest'] or found['id']})"
