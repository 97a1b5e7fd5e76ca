"""Reading preview output: the CLI digest, engine event lines, and the Automation API's snake_case events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract import Outputs
from mlops.previews.comment import StackReport, render
from mlops.previews.preview import PreviewFormatError, load_preview
from mlops.previews.records import UNKNOWN, ModelRefChange
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


def test_the_digest_knows_the_served_model_before_but_not_the_planned_one() -> None:
    preview = _dev()
    # Pulumi's digest keeps the root stack's outputs as they were: the planned ones never reach it.
    assert preview.outputs[Outputs.SERVED_MODEL_URI] == "models:/breast-cancer/2"
    assert not preview.served_model_known and preview.model_changes == []
    body = render([StackReport("dev", preview)])
    assert "The served model is not in the `pulumi preview --json` digest" in body


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
    assert preview.served_model_known
    assert preview.model_changes == [
        ModelRefChange("models:/breast-cancer/3", "models:/breast-cancer/4", f"stack output {Outputs.SERVED_MODEL_URI}")
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


def _root_events(old: dict | None, planned: dict) -> str:
    urn = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
    root = {"type": "pulumi:pulumi:Stack", "urn": urn}
    pre = {"op": "same" if old is not None else "create", "urn": urn, "type": root["type"]}
    pre |= {"old": {**root, "outputs": old} if old is not None else None, "new": root}
    done = {"op": pre["op"], "urn": urn, "type": root["type"], "new": {**root, "outputs": planned}}
    events = [{"resourcePreEvent": {"metadata": pre}}, {"resOutputsEvent": {"metadata": done}}]
    return "\n".join(json.dumps(e) for e in events)


SERVED = Outputs.SERVED_MODEL_URI


@pytest.mark.parametrize(
    ("old", "planned", "expected"),
    [
        ({SERVED: "models:/a/1"}, {SERVED: "models:/a/2"}, [("models:/a/1", "models:/a/2")]),
        ({SERVED: "models:/a/1"}, {SERVED: ""}, [("models:/a/1", None)]),
        (None, {SERVED: "models:/a/1"}, [(None, "models:/a/1")]),
        ({SERVED: "models:/a/1"}, {SERVED: "models:/a/1"}, []),
        ({SERVED: "models:/a/1"}, {SERVED: UNKNOWN}, []),
        (None, {SERVED: ""}, []),
    ],
    ids=["new-version", "removed", "first", "unchanged", "unknown-until-update", "nothing-served"],
)
def test_the_served_model_change_comes_from_the_stack_output(old, planned, expected) -> None:  # type: ignore[no-untyped-def]
    preview = load_preview("s", _root_events(old, {"tracking_uri": "http://127.0.0.1:1", **planned}))
    assert preview.served_model_known
    assert [(c.old, c.new) for c in preview.model_changes] == expected
    assert {c.source for c in preview.model_changes} <= {f"stack output {SERVED}"}


def test_a_container_env_var_alone_is_not_read_as_the_served_model() -> None:
    steps = [
        {"op": "delete", "urn": "urn:pulumi:s::p::t::gone", "oldState": {"inputs": {"envs": ["MLOPS_MODEL_URI=m"]}}}
    ]
    preview = load_preview("s", json.dumps({"steps": steps, "changeSummary": {"delete": 1}}))
    assert preview.model_changes == []


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
