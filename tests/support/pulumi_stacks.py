"""Real Pulumi runs for integration tests: the real CLI through the Automation API, a file backend in
a temp dir, and a test stack whose names and ports cannot collide with a user's `local`."""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from contract import CONFIG_NAMESPACE, DEPLOYED_MODEL_ENV
from tests.support.paths import INFRA_MAIN, REPO, VENV

BASE_IMAGE = "mlops-base:bookworm-py311"


def why_not_runnable() -> str:
    """Empty when the Pulumi CLI, the dynamic-provider host and a Docker engine with the base image are here."""
    for tool in ("pulumi", "pulumi-resource-pulumi-python"):
        if not (VENV / "bin" / tool).exists():
            return f"{VENV / 'bin' / tool} is missing: run `make setup` (scripts/bootstrap.py)"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "no Docker engine answers `docker info`"
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode != 0:
        return f"base image {BASE_IMAGE} is missing: run scripts/bootstrap.py --steps base-image"
    return ""


def environment(root: Path) -> dict[str, str]:
    return {
        "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "integration-test",
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "1",
        "PULUMI_RUNTIME_VIRTUALENV": str(VENV),
        "XDG_DATA_HOME": str(root / "data"),
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def never_deployed(stack: str) -> dict[str, str]:
    """What `mlops env` hands the program of a stack that has never completed an `up` (no serving planned
    for an unresolvable model), for tests that run the Pulumi CLI on the platform program themselves."""
    return {DEPLOYED_MODEL_ENV: json.dumps({"stack": stack, "deployed": False, "served": ""})}


def project_dir(root: Path, stack: str, config: dict[str, Any]) -> Path:
    """A copy of the project manifest with one stack file, so the test stack's config is its own."""
    work = root / "project"
    (work / "stacks").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Pulumi.yaml", work / "Pulumi.yaml")
    if not (work / "infra").exists():
        (work / "infra").symlink_to(REPO / "infra")
    document = {"config": {f"{CONFIG_NAMESPACE}:{k}": v for k, v in config.items()}}
    (work / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
    (root / "state").mkdir(exist_ok=True)
    return work


def stack(root: Path, name: str, config: dict[str, Any], program: Callable[[], None] | None = None) -> Any:
    """Create or select stack `name` running `program` (default: the platform's infra/__main__.py)."""
    from pulumi import automation as auto

    env = environment(root)
    os.environ.update(env)
    work = project_dir(root, name, config)
    opts = auto.LocalWorkspaceOptions(work_dir=str(work), env_vars=env)
    selected = auto.create_or_select_stack(
        stack_name=name, project_name="mlops-platform", program=program or run_platform, opts=opts
    )
    if program is None:
        # What the stack serves now, read from its state before every run, as `mlops env up` does.
        from mlops.stacks import hand_deployed_model

        hand_deployed_model(selected)
    return selected


def run_platform() -> None:
    runpy.run_path(str(INFRA_MAIN), run_name="__main__")
