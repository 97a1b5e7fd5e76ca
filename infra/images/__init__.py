"""The platform's own images: what goes into each build context and its content tag.

A tag is a hash of the Dockerfile, every file of the build context and the build args (which carry
the tag of the image built FROM), so an image is rebuilt exactly when one of them changes. The build
context is exactly the listed files: the runtime images get the `contract` and `ml` packages and nothing
else, so a change to the docs or to the operator package (`mlops`) rebuilds and rolls out nothing.
`python -m infra.images` prints every tag of a stack.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = Path(__file__).resolve().parent
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

    @property
    def tag(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.dockerfile.read_bytes())
        for rel in self.files:
            digest.update(b"\0" + rel.encode() + b"\0")
            digest.update((REPO_ROOT / rel).read_bytes())
        for key, value in sorted(self.build_args.items()):
            digest.update(f"\0{key}={value}".encode())
        return digest.hexdigest()[:20]


def _tree(rel_dir: str) -> list[str]:
    root = REPO_ROOT / rel_dir
    return sorted(
        str(path.relative_to(REPO_ROOT))
        for path in root.rglob("*")
        if path.is_file()
        and not _SKIP.intersection(path.relative_to(REPO_ROOT).parts)
        and path.suffix not in (".pyc", ".pyo")
    )


def _existing(paths: Iterable[str]) -> tuple[str, ...]:
    return tuple(p for p in paths if (REPO_ROOT / p).is_file())


def specs(base_image: str, deps_ref: str | None = None, postgres: bool = False) -> dict[str, ImageSpec]:
    """Every platform image for a stack. `deps_ref` is the deps image reference the workload
    images build FROM (`None`: only the deps spec is meaningful, as when computing that reference)."""
    probe = "infra/images/probe.py"
    base_args = {"BASE_IMAGE": base_image}
    result = {
        "deps": ImageSpec(
            "deps",
            IMAGES_DIR / "deps.Dockerfile",
            _existing([probe, "pyproject.toml", "constraints.txt"]),
            base_args,
            pushed=False,
        ),
        "registry": ImageSpec(
            "registry",
            IMAGES_DIR / "registry.Dockerfile",
            (probe, "infra/images/registry-config.yml", "infra/images/registry-entrypoint.sh"),
            base_args,
            pushed=False,
        ),
        "balancer": ImageSpec(
            "balancer",
            IMAGES_DIR / "balancer.Dockerfile",
            (probe, "infra/images/balancer.conf", "infra/images/balancer-entrypoint.sh"),
            base_args,
        ),
    }
    if postgres:
        result["postgres"] = ImageSpec(
            "postgres", IMAGES_DIR / "postgres.Dockerfile", ("infra/images/postgres-entrypoint.sh",), base_args
        )
    if deps_ref is not None:
        deps_args = {"DEPS_IMAGE": deps_ref}
        runtime = tuple(_tree("contract")) + tuple(_tree("ml"))
        result["tracking"] = ImageSpec("tracking", IMAGES_DIR / "tracking.Dockerfile", (), deps_args)
        result["server"] = ImageSpec("server", IMAGES_DIR / "server.Dockerfile", runtime, deps_args)
        result["trainer"] = ImageSpec("trainer", IMAGES_DIR / "trainer.Dockerfile", runtime, deps_args)
    return result


def stack_specs(prefix: str, base_image: str, postgres: bool = False) -> dict[str, ImageSpec]:
    """Every image of a stack whose physical names start with `prefix`, the workload images built FROM
    that stack's own deps image (`PREFIX/deps:TAG`)."""
    deps = specs(base_image, postgres=postgres)["deps"]
    return specs(base_image, deps_ref=f"{prefix}/deps:{deps.tag}", postgres=postgres)
