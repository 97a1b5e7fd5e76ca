"""The Pulumi project of this checkout, its stack files and its state backend: what every operator module
needs before it talks to Pulumi."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from contract import data_dir


class EnvironmentUnavailable(RuntimeError):
    """An environment cannot be resolved or driven; the message says what to do."""


@dataclass(frozen=True)
class Project:
    """The Pulumi project this checkout holds."""

    root: Path
    name: str
    main: Path
    stack_config_dir: Path

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self.stack_config_dir.glob("Pulumi.*.yaml"))


@cache
def project() -> Project:
    """Find the project: `MLOPS_PROJECT_DIR`, else the nearest `Pulumi.yaml` above the cwd or this package."""
    candidates = []
    if os.environ.get("MLOPS_PROJECT_DIR"):
        candidates.append(Path(os.environ["MLOPS_PROJECT_DIR"]))
    candidates += [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[1]]
    for directory in candidates:
        manifest = directory / "Pulumi.yaml"
        if manifest.is_file():
            spec = yaml.safe_load(manifest.read_text()) or {}
            return Project(
                root=directory.resolve(),
                name=str(spec["name"]),
                main=(directory / spec.get("main", ".") / "__main__.py").resolve(),
                stack_config_dir=(directory / spec.get("stackConfigDir", ".")).resolve(),
            )
    raise EnvironmentUnavailable(
        "No Pulumi.yaml found in the current directory or its parents. Run mlops from the platform checkout, "
        "or set MLOPS_PROJECT_DIR to it."
    )


def backend_url() -> str:
    """`PULUMI_BACKEND_URL` when a team uses Pulumi Cloud or S3, else a file backend in the user's data dir."""
    url = os.environ.get("PULUMI_BACKEND_URL")
    if url:
        local = url[len("file://") :] if url.startswith("file://") else None
        if local is not None and local not in ("", "~") and not Path(local).expanduser().is_dir():
            raise EnvironmentUnavailable(
                f"PULUMI_BACKEND_URL={url}: the directory {local} does not exist; create it (mkdir -p {local}) "
                "or unset PULUMI_BACKEND_URL to use the default state directory."
            )
        return url
    state = data_dir() / "state"
    state.mkdir(parents=True, exist_ok=True)
    return f"file://{state}"


def stack_file_settings(stack: str) -> Mapping[str, Any]:
    path = project().stack_file(stack)
    if not path.is_file():
        known = ", ".join(project().stacks()) or "none"
        raise EnvironmentUnavailable(f"Unknown environment '{stack}': {path} does not exist (known: {known}).")
    return yaml.safe_load(path.read_text()) or {}
