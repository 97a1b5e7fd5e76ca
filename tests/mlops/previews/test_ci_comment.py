"""Rendering edge cases: GitHub's size limit, Markdown-breaking text, stacks without a preview."""

from __future__ import annotations

import json

from mlops.previews.comment import MARKER, MAX_CHARS, StackReport, render
from mlops.previews.preview import load_preview


def _big_preview(resources: int) -> str:
    steps = [
        {
            "op": "update",
            "urn": f"urn:pulumi:dev::mlops-platform::pulumi-python:dynamic/docker:Container::container-{i:05d}",
            "diffReasons": ["env", "labels"],
        }
        for i in range(resources)
    ]
    return json.dumps({"steps": steps, "changeSummary": {"update": resources}})


def test_a_huge_preview_is_cut_to_fit_a_github_comment() -> None:
    preview = load_preview("dev", _big_preview(5000))
    body = render([StackReport("dev", preview)])
    assert len(body) <= MAX_CHARS
    assert body.startswith(MARKER)
    assert "| `dev` | 🟢 changes | 0 | 5000 | 0 | 0 | 0 | not reported |" in body
    assert "| … | 4975 more, in the preview's own output | | |" in body


def test_a_preview_that_fits_lists_every_change() -> None:
    body = render([StackReport("dev", load_preview("dev", _big_preview(30)))])
    assert "container-00029" in body and "in the preview's own output" not in body


def test_pipes_and_newlines_in_messages_cannot_break_the_tables() -> None:
    events = [
        {
            "policyEvent": {
                "resourceUrn": "urn:pulumi:dev::p::t::web|1",
                "message": "port 8080 | published on 0.0.0.0\nfix: bind to 127.0.0.1",
                "policyName": "docker-ports-on-loopback",
                "policyPackName": "mlops-guardrails",
                "enforcementLevel": "advisory",
            }
        },
        {"summaryEvent": {"resourceChanges": {"same": 1}, "policyPacks": {"mlops-guardrails": "0.1.0"}}},
    ]
    body = render([StackReport("dev", load_preview("dev", json.dumps(events)))])
    row = next(line for line in body.splitlines() if "docker-ports-on-loopback" in line)
    assert row == (
        "| advisory | `mlops-guardrails/docker-ports-on-loopback` | `web\\|1` | "
        "port 8080 \\| published on 0.0.0.0 fix: bind to 127.0.0.1 |"
    )


def test_no_stacks_says_so() -> None:
    body = render([])
    assert body.splitlines()[:2] == [MARKER, "## Pulumi preview of 0 stacks"]
    assert "This change touches no stack." in body
