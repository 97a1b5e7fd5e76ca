"""The pulumi step links one directory holding CLI, language host and helpers into .venv/bin."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolchain import pins, pulumi_step
from toolchain.context import Context
from toolchain.system import BootstrapError


@pytest.fixture
def offline(ctx: Context, unreachable_url: str, monkeypatch: pytest.MonkeyPatch) -> Context:
    """The official download is unreachable, as on the machines this project is built on."""
    monkeypatch.setattr("toolchain.pulumi_cli.cli_urls", lambda version: [unreachable_url])
    return ctx


def _host_sources(repo: Path, body: str = "package main\n") -> Path:
    sources = repo / pulumi_step.LANGUAGE_HOST_SOURCES
    sources.mkdir(parents=True, exist_ok=True)
    (sources / "go.mod").write_text("module example.com/host\n")
    (sources / "main.go").write_text(body)
    return sources


def test_missing_language_host_sources_fail_but_the_cli_is_linked(offline: Context, fake_go: Path) -> None:
    with pytest.raises(BootstrapError, match="language host is missing") as info:
        pulumi_step.run(offline)
    assert str(pulumi_step.LANGUAGE_HOST_SOURCES) in info.value.fix
    assert (offline.venv_bin / "pulumi").resolve().is_file()


def test_language_host_is_built_and_bundled_with_the_cli(offline: Context, fake_go: Path) -> None:
    sources = _host_sources(offline.repo)
    summary = pulumi_step.run(offline)
    assert f"pulumi v{pins.PULUMI_VERSION} (build)" in summary
    targets = {name: (offline.venv_bin / name).resolve() for name in pulumi_step.BUNDLE}
    # Pulumi finds bundled plugins next to the resolved binary: all four must share a directory.
    assert len({t.parent for t in targets.values()}) == 1
    assert all(os.access(t, os.X_OK) for t in targets.values())
    # `go build -o DEST .` ran inside the sources: the fake go stamps its working directory.
    host = offline.system.run([targets[pulumi_step.LANGUAGE_HOST]]).stdout.strip()
    assert host == f"built-from-{sources}"
    assert targets[pulumi_step.LANGUAGE_HOST].parent.parent == offline.cache / "pulumi" / "bundles"
    assert pulumi_step.check(offline).startswith(f"pulumi v{pins.PULUMI_VERSION}")


def test_rerun_is_a_no_op_and_a_source_edit_rebuilds_only_the_host(offline: Context, fake_go: Path) -> None:
    sources = _host_sources(offline.repo)
    pulumi_step.run(offline)
    calls = fake_go.read_text().count("build -o")
    assert "already linked" in pulumi_step.run(offline)
    assert fake_go.read_text().count("build -o") == calls
    first_host = (offline.venv_bin / pulumi_step.LANGUAGE_HOST).resolve()
    (sources / "main.go").write_text("package main // changed\n")
    pulumi_step.run(offline)
    assert fake_go.read_text().count("build -o") == calls + 1
    assert (offline.venv_bin / pulumi_step.LANGUAGE_HOST).resolve() != first_host


def test_check_reports_what_is_missing_without_changing_anything(offline: Context) -> None:
    with pytest.raises(BootstrapError, match=r"missing in .*pulumi, pulumi-language-python"):
        pulumi_step.check(offline)
    assert not (offline.venv_bin / "pulumi").exists()


def test_no_venv_names_the_step_to_run_first(offline: Context) -> None:
    (offline.venv_bin / "python").unlink()
    with pytest.raises(BootstrapError, match="no virtualenv") as info:
        pulumi_step.run(offline)
    assert "--steps python" in info.value.fix


def test_our_launcher_replaces_the_sdk_helper_and_edits_republish(offline: Context, fake_go: Path) -> None:
    sources = _host_sources(offline.repo)
    launcher = sources / "launchers" / "pulumi-resource-pulumi-python"
    launcher.parent.mkdir()
    launcher.write_text("#!/bin/sh\necho ours\n")
    pulumi_step.run(offline)
    linked = offline.venv_bin / "pulumi-resource-pulumi-python"
    assert offline.system.run([linked]).stdout.strip() == "ours"
    # The SDK's exec script is still the one from the module.
    assert (offline.venv_bin / "pulumi-language-python-exec").read_text() == "#!/usr/bin/env python3\n"
    launcher.write_text("#!/bin/sh\necho ours, edited\n")
    pulumi_step.run(offline)
    assert offline.system.run([linked]).stdout.strip() == "ours, edited"
