"""`enabled` versus `dry_run`: the gates run and are reported in both modes; a failed gate refuses the
promotion (nothing changes in the target) only when the policy is enabled, while a dry run reports it and
goes ahead. The registries, the lease, the audit log and serving are local stand-ins here; the same flow
against real servers is in test_promote_flow.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from ml.promote import flow
from ml.promote.checks import GateResult
from ml.promote.flow import Outcome, Target
from ml.promote.promotion_policy import parse_policy

PASSED = [GateResult("training-checks", True, "ok"), GateResult("champion:roc_auc", True, "0.9 vs 0.9")]
WORSE = [GateResult("training-checks", True, "ok"), GateResult("champion:roc_auc", False, "0.8 vs 0.9")]


@dataclass
class Version:
    name: str
    version: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def load(self) -> None:
        return None


@dataclass
class Deployer:
    uri: str = "models:/m@champion"
    changes: list[str] = field(default_factory=list)

    def model_uri(self) -> str:
        return self.uri

    def set_model_uri(self, uri: str) -> None:
        self.uri = uri
        self.changes.append(uri)

    def roll_out(self) -> str:
        self.changes.append("roll_out")
        return "http://serving"


@dataclass
class World:
    """What the flow did to the target: audit records, attempts, alias moves."""

    records: list[Any] = field(default_factory=list)
    attempts: list[list[str]] = field(default_factory=list)
    aliases: list[str | None] = field(default_factory=list)
    said: list[str] = field(default_factory=list)


class Attempt:
    def __init__(self, world: World, entry: Any) -> None:
        self.steps: list[str] = ["intent"]
        self.serving_uri_before = entry.serving_uri_before
        world.attempts.append(self.steps)

    def step(self, name: str, **details: str) -> None:
        self.steps.append(name)

    def close(self, outcome: str, reason: str, **details: str) -> None:
        self.steps.append(outcome)


class Lease:
    def check(self) -> None:
        pass


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    world = World()
    monkeypatch.setattr(flow.lease, "holding", lambda *a, **k: contextlib.nullcontext(Lease()))
    monkeypatch.setattr(flow.audit, "unfinished", lambda uri, env: [])
    monkeypatch.setattr(flow.audit, "record", lambda uri, entry: world.records.append(entry))
    monkeypatch.setattr(flow.audit, "open_attempt", lambda uri, entry: Attempt(world, entry))
    monkeypatch.setattr(flow, "get_version", lambda uri, model, **k: Version(model, "7"))
    monkeypatch.setattr(flow, "find_alias", lambda uri, model, alias: Version(model, "6"))
    monkeypatch.setattr(flow, "lineage_tags", lambda *a: {})
    monkeypatch.setattr(flow, "copy_version", lambda candidate, env, uri, tags: Version(candidate.name, "12"))
    monkeypatch.setattr(flow, "_probe_rows", lambda *a: None)
    monkeypatch.setattr(
        flow, "smoke_test", lambda endpoint, version, model, probe: SimpleNamespace(version=version, rows=3)
    )
    monkeypatch.setattr(flow, "wait_for_version", lambda endpoint, version, timeout: None)
    monkeypatch.setattr(flow, "_set_alias", lambda uri, model, version: world.aliases.append(version))
    return world


def promote(world: World, mode: str, gates: list[GateResult], monkeypatch, **policy: Any):
    monkeypatch.setattr(flow, "evaluate_gates", lambda *a: gates)
    deployer = Deployer()
    target = Target("prod", "http://prod-tracking", parse_policy("prod", {"mode": mode, **policy}), deployer)
    report = flow.promote(
        "m", "dev", "http://dev-tracking", target, version=None, alias=None, approved_by=None, say=world.said.append
    )
    return report, deployer


@pytest.mark.parametrize("mode", ["enabled", "dry_run"])
def test_passing_gates_promote_in_both_modes(world, monkeypatch, mode) -> None:
    report, deployer = promote(world, mode, PASSED, monkeypatch)
    assert (report.outcome, report.version, report.gates) == (Outcome.PROMOTED, "12", PASSED)
    assert deployer.changes == ["models:/m/12", "roll_out", "models:/m@champion"]
    assert world.aliases == ["12"]
    assert world.attempts == [["intent", "copied", "deploying", "deployed", "smoke-tested", "alias-moved", "promoted"]]
    assert not any("dry_run" in line for line in world.said)


def test_an_enabled_policy_refuses_a_failed_gate_and_changes_nothing(world, monkeypatch) -> None:
    report, deployer = promote(world, "enabled", WORSE, monkeypatch)
    assert report.outcome is Outcome.REFUSED
    assert report.message == "refused: champion:roc_auc: 0.8 vs 0.9"
    assert report.gates == WORSE
    assert (deployer.changes, world.aliases, world.attempts) == ([], [], [])
    [record] = world.records
    assert (record.outcome, record.reason, record.source_version, record.previous_version) == (
        "refused",
        report.message,
        "7",
        "6",
    )


def test_a_dry_run_reports_a_failed_gate_and_goes_ahead(world, monkeypatch) -> None:
    report, deployer = promote(world, "dry_run", WORSE, monkeypatch)
    assert report.outcome is Outcome.PROMOTED
    assert "dry_run policy: these gates failed and are reported only: champion:roc_auc" in world.said
    assert world.aliases == ["12"] and "roll_out" in deployer.changes
    assert world.records == []


@pytest.mark.parametrize("mode", ["enabled", "dry_run"])
def test_a_missing_approval_waits_for_one_in_both_modes(world, monkeypatch, mode) -> None:
    gates = [*PASSED, GateResult("approval", False, "pass --approve")]
    report, deployer = promote(world, mode, gates, monkeypatch, requireApproval=True)
    assert (report.outcome, report.message) == (Outcome.NEEDS_APPROVAL, "pass --approve")
    assert (deployer.changes, world.aliases) == ([], [])
    assert [r.outcome for r in world.records] == ["needs_approval"]


def test_a_failed_gate_is_refused_before_the_approval_is_asked_for(world, monkeypatch) -> None:
    gates = [*WORSE, GateResult("approval", False, "pass --approve")]
    report, _ = promote(world, "enabled", gates, monkeypatch, requireApproval=True)
    assert report.outcome is Outcome.REFUSED
    assert "approval" not in report.message
