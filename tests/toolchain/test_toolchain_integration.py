"""The installed toolchain itself: the CLI, its helpers and the plugin are the pinned versions."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from toolchain import pins
from toolchain.pulumi_step import BUNDLE

pytestmark = pytest.mark.integration

VENV_BIN = pins.REPO_ROOT / ".venv" / "bin"


def _pulumi(*args: str) -> subprocess.CompletedProcess[str]:
    pulumi = VENV_BIN / "pulumi"
    if not pulumi.exists():
        pytest.skip(f"{pulumi} is not installed: run `python3 scripts/bootstrap.py` first")
    # No .venv/bin on PATH: the CLI must find its bundled helpers next to itself.
    env = pins.pulumi_env({"PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    return subprocess.run([pulumi, *args], capture_output=True, text=True, env=env, check=True, timeout=120)


def test_cli_reports_the_pinned_version() -> None:
    assert _pulumi("version").stdout.strip() == f"v{pins.PULUMI_VERSION}"


def test_language_host_and_helpers_sit_next_to_the_cli() -> None:
    _pulumi("version")
    home = (VENV_BIN / "pulumi").resolve().parent
    for name in BUNDLE:
        assert os.access(home / name, os.X_OK), f"{name} missing or not executable in {home}"
        assert (VENV_BIN / name).resolve() == home / name


def test_kubernetes_plugin_is_the_sdk_pin() -> None:
    listed = json.loads(_pulumi("plugin", "ls", "--json").stdout or "[]")
    found = {(p["kind"], p["name"], p["version"]) for p in listed}
    assert ("resource", "kubernetes", pins.kubernetes_plugin_version()) in found, found
    # The plugin binary answers with the version it was stamped with.
    (entry,) = [p for p in listed if p["name"] == "kubernetes" and p["version"] == pins.kubernetes_plugin_version()]
    assert entry.get("size", 1) > 0


def test_plugin_is_usable_by_the_engine() -> None:
    # `plugin ls` lists what is on disk; `package get-schema` actually starts the plugin over gRPC.
    schema = json.loads(_pulumi("package", "get-schema", f"kubernetes@{pins.kubernetes_plugin_version()}").stdout)
    assert schema["name"] == "kubernetes"
    assert schema["version"] == pins.kubernetes_plugin_version()
