"""Reading preview output: the CLI digest, engine event lines, and the Automation API's snake_case events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.previews.preview import PreviewFormatError, load_preview
from mlops.previews.records import ModelRefChange
from mlops.previews.run import to_plain

HAND = Path(__file__).parent / "fixtures" / "hand"


def _dev():
    return load_preview("dev", (HAND / "dev-digest.json").read_text())


def _prod():
    return load_preview("prod", (HAND / "prod-events.jsonl").read_text())


def test_digest_counts_come_from_the_change_summary() -> None:
    preview = _dev()
    assert preview.counts == {"create": 1, "update": 1, "replace": 2, "delete": 1, "same": 2}
    assert preview.has_changes()


def test_replacement_halves_fold_into_one_replace_per_resource() -> None:
    preview = _dev()
    assert [(c.name, c.replace_reasons) for c in preview.replaced] == [
        ("mlops-serving-0", ("env",)),
        ("mlops-serving-1", ("env",)),
    ]
    assert [(c.op, c.name) for c in preview.changes] == [
        ("replace", "mlops-serving-0"),
        ("replace", "mlops-serving-1"),
        ("create", "mlops-serving-2"),
        ("update", "mlops-serving-lb"),
        ("delete", "mlops-scratch-volume"),
    ]


def test_model_change_from_docker_env_folds_the_added_replica_in() -> None:
    assert _dev().model_changes == [
        ModelRefChange(
            old="models:/breast-cancer/2",
            new="models:/breast-cancer/3",
            source="serving containers",
            resources=("mlops-serving-0", "mlops-serving-1", "mlops-serving-2"),
        )
    ]


def test_digest_says_policy_events_are_missing_and_keeps_warnings_not_info() -> None:
    preview = _dev()
    assert preview.policy_events_available is False
    assert preview.violations == []
    assert preview.warnings == ["mlops-platform-dev: serving replicas 3 exceed the host's 2 CPUs"]
    assert preview.errors == []
    assert not preview.failed


def test_outputs_and_configured_model_come_from_the_preview() -> None:
    preview = _dev()
    assert preview.outputs["tracking_uri"] == "http://127.0.0.1:1"
    assert preview.configured_model_uri == "models:/breast-cancer@champion"


def test_events_carry_policy_violations_and_a_mandatory_one_fails_the_stack() -> None:
    preview = _prod()
    assert preview.policy_events_available
    assert [(v.level, v.pack, v.policy) for v in preview.violations] == [
        ("mandatory", "mlops-guardrails", "no-stateful-replace"),
        ("advisory", "mlops-guardrails", "serving-pdb"),
    ]
    assert preview.violations[0].urn and preview.violations[0].urn.endswith("::mlops-tracking-data")
    assert preview.failed


def test_events_kubernetes_env_list_and_counts() -> None:
    preview = _prod()
    assert preview.counts == {"create": 0, "update": 1, "replace": 1, "delete": 0, "same": 9}
    assert [(c.old, c.new, c.resources) for c in preview.model_changes] == [
        ("models:/breast-cancer/3", "models:/breast-cancer/4", ("mlops-serving",))
    ]
    # The ephemeral info message is display noise; the warning stays.
    assert preview.warnings == ["mlops-serving: spec.replicas is managed by the HPA"]


def test_automation_api_events_read_the_same_as_cli_events() -> None:
    from pulumi.automation.events import EngineEvent

    lines = (HAND / "prod-events.jsonl").read_text().splitlines()
    plain = [to_plain(EngineEvent.from_json(json.loads(line))) for line in lines]
    # The Automation API's OpType is an enum: it must arrive as its value, not its repr.
    assert plain[2]["resource_pre_event"]["metadata"]["op"] == "update"
    document = json.dumps({"stack": "prod", "summary": {"update": 1, "replace": 1, "same": 9}, "events": plain})
    from_python, from_cli = load_preview("prod", document), _prod()
    assert from_python.counts == from_cli.counts
    assert from_python.changes == from_cli.changes
    assert from_python.violations == from_cli.violations
    assert from_python.model_changes == from_cli.model_changes
    assert from_python.warnings == from_cli.warnings


def test_without_a_summary_the_counts_come_from_the_steps() -> None:
    lines = [line for line in (HAND / "prod-events.jsonl").read_text().splitlines() if "summaryEvent" not in line]
    preview = load_preview("prod", "\n".join(lines))
    assert preview.counts == {"create": 0, "update": 1, "replace": 1, "delete": 0, "same": 1}


def test_a_removed_server_shows_its_model_going_away() -> None:
    steps = [
        {
            "op": "delete",
            "urn": "urn:pulumi:s::p::t::gone",
            "oldState": {"inputs": {"envs": ["MLOPS_MODEL_URI=models:/a/1"]}},
        },
    ]
    preview = load_preview("s", json.dumps({"steps": steps, "changeSummary": {"delete": 1}}))
    assert [(c.old, c.new) for c in preview.model_changes] == [("models:/a/1", None)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ('{"hello": 1}', "not preview output"),
        ("42", "JSON int"),
        ('{"steps": []}\nnot json', "line 2 is not JSON"),
        ("[1, 2]", "not an object"),
    ],
)
def test_unreadable_input_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PreviewFormatError, match=message):
        load_preview("dev", text, source="dev.json")
