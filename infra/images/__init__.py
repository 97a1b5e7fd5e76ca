"""The platform's own images: what goes into each build context and its content tag.

A tag is a hash of the Dockerfile, every file of the build context and the build args (which carry
the tag of the image built FROM), and, for the images built FROM the base image, of the base's recorded
identity (`infra.images.base`), so an image is rebuilt exactly when one of them changes. The build
context is exactly the listed files: the runtime images get the `contract` and `ml` packages and nothing
else, so a change to the docs or to the operator package (`mlops`) rebuilds and rolls out nothing.
`python -m infra.images [--root DIR]` prints every tag of a stack; every function takes the repository
root (default: this checkout), so a copy of the repository can be hashed without importing it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra.images.base import BaseImage, base_identity

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = Path(__file__).resolve().parent
IMAGES_REL = "infra/images"
_SKIP = {"__pycache__", ".pytest_cache", ".mypy_cache"}


@dataclass(frozen=True)
class ImageSpec:
    role: str
    dockerfile: Path
    files: tuple[str, ...]
    """Paths relative to the repository root that form the build context."""
    build_args: Mapping[str, str] = field(default_factory=dict)
    pushed: bool = True
    """Pushed to the environment's registry (the registry's own image and the deps layer stay local)."""
    root: Path = REPO_ROOT
    """The repository the files are read from (the build context)."""
    base: BaseImage | None = None
    """The base image built FROM (its identity is part of the tag), or None for images built FROM another."""

    @property
    def tag(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.dockerfile.read_bytes())
        for rel in self.files:
            digest.update(b"\0" + rel.encode() + b"\0")
            digest.update((self.root / rel).read_bytes())
        for key, value in sorted(self.build_args.items()):
            digest.update(f"\0{key}={value}".encode())
        if self.base is not None and self.base.identity:
            digest.update(f"\0base={self.base.identity}".encode())
        return digest.hexdigest()[:20]


def _tree(root: Path, rel_dir: str) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in (root / rel_dir).rglob("*")
        if path.is_file()
        and not _SKIP.intersection(path.relative_to(root).parts)
        and path.suffix not in (".pyc", ".pyo")
    )


def _existing(root: Path, paths: Iterable[str]) -> tuple[str, ...]:
    return tuple(p for p in paths if (root / p).is_file())


def specs(
    base_image: str, deps_ref: str | None = None, postgres: bool = False, root: Path | None = None
) -> dict[str, ImageSpec]:
    """Every platform image for a stack. `deps_ref` is the deps image reference the workload
    images build FROM (`None`: only the deps spec is meaningful, as when computing that reference)."""
    root = root or REPO_ROOT
    images_dir = root / IMAGES_REL
    probe = f"{IMAGES_REL}/probe.py"
    base_args = {"BASE_IMAGE": base_image}
    base = base_identity(base_image)

    def spec(role: str, files: tuple[str, ...], args: Mapping[str, str], pushed: bool = True) -> ImageSpec:
        from_base = base if "BASE_IMAGE" in args else None
        return ImageSpec(role, images_dir / f"{role}.Dockerfile", files, args, pushed=pushed, root=root, base=from_base)

    result = {
        "deps": spec("deps", _existing(root, [probe, "pyproject.toml", "constraints.txt"]), base_args, pushed=False),
        "registry": spec(
            "registry",
            (probe, f"{IMAGES_REL}/registry-config.yml", f"{IMAGES_REL}/registry-entrypoint.sh"),
            base_args,
            pushed=False,
        ),
        "balancer": spec(
            "balancer", (probe, f"{IMAGES_REL}/balancer.conf", f"{IMAGES_REL}/balancer-entrypoint.sh"), base_args
        ),
    }
    if postgres:
        result["postgres"] = spec("postgres", (f"{IMAGES_REL}/postgres-entrypoint.sh",), base_args)
    if deps_ref is not None:
        deps_args = {"DEPS_IMAGE": deps_ref}
        # Exactly what the runtime images copy: the contract and the ml package, nothing else.
        runtime = tuple(_tree(root, "contract")) + tuple(_tree(root, "ml"))
        result["tracking"] = spec("tracking", (f"{IMAGES_REL}/tracking-server.py",), deps_args)
        result["server"] = spec("server", runtime, deps_args)
        result["trainer"] = spec("trainer", runtime, deps_args)
    return result


def stack_specs(prefix: str, base_image: str, postgres: bool = False, root: Path | None = None) -> dict[str, ImageSpec]:
    """Every image of a stack whose physical names start with `prefix`, the workload images built FROM
    that stack's own deps image (`PREFIX/deps:TAG`)."""
    deps = specs(base_image, postgres=postgres, root=root)["deps"]
    return specs(base_image, deps_ref=f"{prefix}/deps:{deps.tag}", postgres=postgres, root=root)


def cluster_postgres_spec(base_image: str, root: Path | None = None) -> ImageSpec:
    """The kubernetes target's Postgres (a fixed uid the kubelet can verify); pushed to the stack's registry."""
    root = root or REPO_ROOT
    return ImageSpec(
        "postgres-cluster",
        root / IMAGES_REL / "postgres-cluster.Dockerfile",
        (f"{IMAGES_REL}/postgres-entrypoint.sh",),
        {"BASE_IMAGE": base_image},
        root=root,
        base=base_identity(base_image),
    )
