"""The comment builder on real previews of our own stacks (see fixtures/README.md for how they were made)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from contract import Outputs
from mlops.cli import app
from mlops.previews.build import model_changes
from mlops.previews.comment import StackReport, render
from mlops.previews.preview import load_preview
from mlops.previews.records import ModelRefChange

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


SHAPES = {
    "automation": "cifix-update.json",
    "digest": "cifix-digest.json",
    "events": "cifix-events.jsonl",
}


def test_changed_stack_shows_the_replaced_volume_images_and_new_resources() -> None:
    preview = _load("cifix", SHAPES["automation"])
    assert preview.counts == {"create": 6, "update": 0, "replace": 3, "delete": 0, "same": 11}
    assert sorted((c.type, c.name, c.replace_reasons) for c in preview.replaced) == [
        ("pulumi-python:dynamic/docker:Image", "mlops-registry-image-deps", ("tag",)),
        ("pulumi-python:dynamic/docker:Image", "mlops-registry-image-registry", ("tag",)),
        ("pulumi-python:dynamic/docker:Volume", "mlops-artifacts-volume", ("name",)),
    ]
    assert preview.configured_model_uri == "models:/ci-demo/3"
    created = sorted(c.name for c in preview.changes if c.op == "create")
    assert "mlops-tracking-container" in created and "mlops-registry-container" in created


def test_the_three_shapes_of_one_real_preview_agree() -> None:
    previews = {shape: _load("cifix", name) for shape, name in SHAPES.items()}
    counts = {shape: p.counts for shape, p in previews.items()}
    assert len({tuple(c.items()) for c in counts.values()}) == 1, counts
    changes = {shape: sorted((c.op, c.urn, c.replace_reasons) for c in p.changes) for shape, p in previews.items()}
    assert changes["automation"] == changes["digest"] == changes["events"]
    assert {p.configured_model_uri for p in previews.values()} == {"models:/ci-demo/3"}


def test_the_guardrail_pack_ran_and_deferred_images_pinned_to_the_update() -> None:
    for shape in ("automation", "events"):
        preview = _load("cifix", SHAPES[shape])
        assert preview.policy_packs == {"mlops-guardrails|local|infra/policy": "0.1.0"}, shape
        assert preview.violations == [], shape
        assert sorted((d.policy, (d.urn or "").split("::")[-1]) for d in preview.deferred) == [
            ("images-pinned", "mlops-registry-container"),
            ("images-pinned", "mlops-tracking-container"),
        ], shape
        assert not preview.failed


def test_the_cli_digest_has_no_policy_events_and_the_comment_says_so() -> None:
    preview = _load("cifix", SHAPES["digest"])
    assert preview.policy_events_available is False and preview.deferred == []
    assert any("does not resolve" in line for line in preview.program_stderr)
    body = render([StackReport("cifix", preview)])
    assert "| `cifix` | ⚠️ replaces | 6 | 0 | 3 | 0 | 11 | not reported |" in body
    assert "Policy violations are not in the `pulumi preview --json` digest" in body


def test_stack_file_model_change_joins_the_real_preview() -> None:
    preview = _load("cifix", SHAPES["automation"])
    change = ModelRefChange("models:/ci-demo@champion", "models:/ci-demo/3", "stack config (stacks/Pulumi.cifix.yaml)")
    assert model_changes(preview, change) == [change]
    body = render([StackReport("cifix", preview)])
    assert "| `cifix` | ⚠️ replaces | 6 | 0 | 3 | 0 | 11 | none |" in body
    assert "Not evaluated in preview, because an input is known only after the update" in body


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
    assert "| `cifix` | ⚠️ replaces | 6 | 0 | 3 | 0 | 11 | none |" in body
    assert "The served model does not change (configured: `models:/breast-cancer@champion`)." in body


def test_serving_replicas_carry_the_resolved_model_version() -> None:
    preview = _load("cimodel", "cimodel-create.json")
    assert preview.counts["create"] == 24
    # Never deployed (no outputs before); the planned `serving_model_version_uri` is the resolved version.
    assert preview.served_model_known
    assert [(c.old, c.new, c.source) for c in preview.model_changes] == [
        (None, "models:/breast-cancer/3", f"stack output {Outputs.SERVED_MODEL_URI}")
    ]
    replicas = sorted(c.name for c in preview.changes if c.type.endswith("docker:Container") and "replica" in c.name)
    assert replicas == ["mlops-serving-replica-0", "mlops-serving-replica-1"]
    # Never deployed: the planned outputs say where its tracking server will be.
    assert preview.outputs["tracking_uri"] == "http://127.0.0.1:5791"
    assert preview.outputs[Outputs.SERVED_MODEL_URI] == "models:/breast-cancer/3"


def test_a_capture_that_lost_its_resource_events_fails_loudly() -> None:
    preview = _load("cimodel", "env-preview-incomplete.json")
    assert preview.counts["create"] == 24 and preview.changes == []
    assert preview.failed
    assert "captured incompletely" in preview.errors[0]
