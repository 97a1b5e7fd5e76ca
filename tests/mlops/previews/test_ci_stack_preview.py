"""`mlops ci preview-comment --stack` end to end: a real preview of our program, saved and rendered.

The stack is the `local` config on its own name and ports, in a throwaway project dir and file backend,
so nothing collides with a user's `local`. A preview creates nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlops import stacks as environments
from mlops.cli import app
from tests.support.paths import BIN, REPO
from tests.support.ports import free_ports

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for tool in ("pulumi", "pulumi-language-python"):
        if not (BIN / tool).exists():
            pytest.fail(f"{BIN / tool} is missing: run `python3 scripts/bootstrap.py` (or `make setup`) first")
    work = tmp_path / "project"
    (work / "stacks").mkdir(parents=True)
    shutil.copy(REPO / "Pulumi.yaml", work / "Pulumi.yaml")
    (work / "infra").symlink_to(REPO / "infra")
    (work / ".venv").symlink_to(BIN.parent)
    config = yaml.safe_load((REPO / "stacks" / "Pulumi.local.yaml").read_text())["config"]
    config = {k: v for k, v in config.items() if k.startswith("mlops:")}
    # Ports nobody listens on: the model reference then resolves to nothing and no replica is planned.
    config["mlops:registry"]["port"], config["mlops:tracking"]["port"], config["mlops:serving"]["port"] = free_ports(3)
    (work / "stacks" / "Pulumi.citest.yaml").write_text(yaml.safe_dump({"config": config}))
    for key, value in {
        "MLOPS_PROJECT_DIR": str(work),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "ci-preview-test",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "state").mkdir()
    # select_stack exports the Pulumi settings (and PATH) into this process: restore all of it afterwards.
    before = dict(os.environ)
    environments.project.cache_clear()
    try:
        yield work
    finally:
        environments.project.cache_clear()
        os.environ.clear()
        os.environ.update(before)


def test_preview_of_our_program_with_the_guardrails(project: Path, tmp_path: Path) -> None:
    saved, comment = tmp_path / "saved", tmp_path / "comment.md"
    result = CliRunner().invoke(
        app,
        [
            "ci",
            "preview-comment",
            "--stack",
            "citest",
            "--policy-pack",
            str(REPO / "infra" / "policy"),
            "--save-dir",
            str(saved),
            "--output",
            str(comment),
            "--fail-on-error",
        ],
    )
    assert result.exit_code == 0, result.stderr + (comment.read_text() if comment.exists() else "")
    document = json.loads((saved / "citest.json").read_text())
    assert document["stack"] == "citest" and document["summary"]["create"] > 10
    assert any("resource_pre_event" in event for event in document["events"])
    body = comment.read_text()
    row = next(line for line in body.splitlines() if line.startswith("| `citest` |"))
    assert f"| {document['summary']['create']} | 0 | 0 | 0 | 0 |" in row
    # The pack ran: its result is a verdict, not "no pack ran".
    assert row.endswith("| none |"), row
    assert "mlops-tracking-container" in body
