"""The comment builder on real previews of our own stacks (see fixtures/README.md for how they were made)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ml.ci.build import model_changes
from ml.ci.comment import StackReport, render
from ml.ci.preview import ModelRefChange, load_preview
from ml.cli import app

REAL = Path(__file__).parent / "fixtures" / "real"


def _load(stack: str, name: str):
    return load_preview(stack, (REAL / name).read_text())


def test_fresh_local_stack_is_all_creates_of_our_components() -> None:
    preview = _load("local", "local-create.json")
    assert preview.counts == {"create": 20, "update": 0, "replace": 0, "delete": 0, "same": 0}
    assert len(preview.changes) == 20 and {c.op for c in preview.changes} == {"create"}
    types = {c.type for c in preview.changes}
    assert {
        "mlops:tracking:TrackingServer",
        "mlops:serving:ServingCluster",
        "mlops:registry:ContainerRegistry",
    } <= types
    assert not any(t.startswith("pulumi:providers:") for t in types)
    assert preview.errors == [] and not preview.failed
    assert preview.configured_model_uri == "models:/breast-cancer@champion"
    # The alias did not resolve (no tracking server yet), so the program made no serving replica.
    assert preview.model_changes == []
    assert preview.policy_packs == {}


def test_changed_stack_shows_the_replaced_volume_and_the_new_resources() -> None:
    preview = _load("cifix", "cifix-update.json")
    assert preview.counts == {"create": 6, "update": 0, "replace": 1, "delete": 0, "same": 13}
    assert [(c.type, c.name, c.replace_reasons) for c in preview.replaced] == [
        ("pulumi-python:dynamic/docker:Volume", "mlops-artifacts-volume", ("name",))
    ]
    assert preview.configured_model_uri == "models:/ci-demo/3"
    created = sorted(c.name for c in preview.changes if c.op == "create")
    assert "mlops-tracking-container" in created and "mlops-registry-container" in created


def test_stack_file_model_change_joins_the_real_preview() -> None:
    preview = _load("cifix", "cifix-update.json")
    change = ModelRefChange("models:/ci-demo@champion", "models:/ci-demo/3", "stack config (stacks/Pulumi.cifix.yaml)")
    assert model_changes(preview, change) == [change]
    body = render([StackReport("cifix", preview)])
    assert "| `cifix` | ⚠️ replaces | 6 | 0 | 1 | 0 | 13 | no pack ran |" in body


def test_cli_renders_both_real_previews_in_one_comment(tmp_path: Path) -> None:
    out = tmp_path / "comment.md"
    result = CliRunner().invoke(
        app,
        [
            "ci",
            "preview-comment",
            "--from-json",
            f"local={REAL / 'local-create.json'}",
            "--from-json",
            f"cifix={REAL / 'cifix-update.json'}",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.stderr
    body = out.read_text()
    assert "| `local` | 🟢 changes | 20 | 0 | 0 | 0 | 0 | no pack ran |" in body
    assert "- `pulumi-python:dynamic/docker:Volume` **mlops-artifacts-volume**, because of `name`" in body
    assert "No change to the served model (configured: `models:/breast-cancer@champion`)." in body
