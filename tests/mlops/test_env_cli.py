"""`mlops env preview --policy-pack`: the path is the caller's, whatever the project directory is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.cli.options import policy_pack_path
from tests.support.paths import REPO


def test_a_relative_policy_pack_is_handed_to_the_engine_as_an_absolute_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The engine runs in MLOPS_PROJECT_DIR; `infra/policy` relative to the caller named nothing there, and the
    preview failed with no diagnostic at all."""
    monkeypatch.chdir(REPO)
    assert policy_pack_path("infra/policy") == str(REPO / "infra" / "policy")
    monkeypatch.chdir(tmp_path)
    assert policy_pack_path(os.path.relpath(REPO / "infra" / "policy")) == str(REPO / "infra" / "policy")


def test_a_path_that_is_not_a_policy_pack_is_refused_before_any_stack_is_touched(tmp_path: Path) -> None:
    args = ["env", "preview", "no-such-stack", "--policy-pack", str(tmp_path)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "not a policy pack" in said and "PulumiPolicy.yaml" in said


def test_ci_preview_refuses_a_path_that_is_not_a_policy_pack_too(tmp_path: Path) -> None:
    args = ["ci", "preview-comment", "--stack", "no-such-stack", "--policy-pack", str(tmp_path)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "not a policy pack" in " ".join(result.output.split())
