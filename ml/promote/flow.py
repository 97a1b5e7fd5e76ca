"""Promotion and rollback: gates, copy with lineage, rollout of the pinned version, smoke test, then the alias.

Every change to a target happens under its lease (`ml.promote.lease`) and inside an audit attempt whose
intent is recorded first and which gains a record after each step: `intent`, `copied`, `deploying`,
`deployed`, `smoke-tested`, `alias-moved`, then the outcome. The `champion` alias moves only once the
new version serves and has passed the smoke test, so an interruption before that leaves the old champion
in place; `recover` reads the steps of an interrupted attempt and completes it (smoke test passed) or
undoes it (anything earlier), so the alias, the served version and the audit log agree again.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

from contract import CHAMPION
from ml.promote import audit, lease
from ml.promote.checks import GateResult, evaluate_gates
from ml.promote.promotion_policy import Mode, PromotionPolicy
from ml.promote.transfer import copy_version, lineage_tags
from ml.promote.versions import ModelVersionRef, find_alias, get_version
from ml.registry import HOLDOUT_ARTIFACT
from ml.smoke import smoke_test, wait_for_version

log = logging.getLogger(__name__)

RESTORE_TIMEOUT_S = 300.0


class Outcome(IntEnum):
    """The exit code of `mlops promote`, for CI."""

    PROMOTED = 0
    ERROR = 1
    REFUSED = 2
    NEEDS_APPROVAL = 3
    ROLLED_BACK = 4
    RESTORE_FAILED = 5


class Deployer(Protocol):
    """How a target environment serves a model reference (its stack, or anything that can roll out)."""

    def model_uri(self) -> str: ...

    def set_model_uri(self, uri: str) -> None: ...

    def roll_out(self) -> str:
        """Apply the configuration; returns the serving endpoint."""
        ...


@dataclass
class Target:
    name: str
    tracking_uri: str
    policy: PromotionPolicy
    deployer: Deployer
    lock_wait_s: float = 0.0
    """How long to wait for another promotion of this target to finish; 0 refuses at once."""


@dataclass
class Report:
    outcome: Outcome
    message: str
    gates: list[GateResult] = field(default_factory=list)
    version: str = ""


Say = Callable[[str], None]


class RestoreFailed(RuntimeError):
    """Undoing a failed change failed too: the target may serve neither version."""


@dataclass(frozen=True)
class Labels:
    """The audit outcomes of one action: when it goes through, and when it is undone."""

    done: str
    undone: str


LABELS = {"promote": Labels("promoted", "rolled_back"), "rollback": Labels("rolled_back_to", "failed")}


def _serving_reference(current: str, model: str, version: str) -> str:
    """Where the stack points once the alias moved: pinned references follow, alias references stay."""
    if not current:
        return f"models:/{model}@{CHAMPION}"
    if current.startswith(f"models:/{model}/"):
        return f"models:/{model}/{version}"
    return current


def _set_alias(tracking_uri: str, model: str, version: str | None) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    current = find_alias(tracking_uri, model, CHAMPION)
    if (current.version if current else None) == version:
        return
    if version is None:
        client.delete_registered_model_alias(model, CHAMPION)
    else:
        client.set_registered_model_alias(model, CHAMPION, version)


def _probe_rows(version: ModelVersionRef, rows: int, workdir: Path) -> Any:
    import pandas as pd

    holdout = pd.read_parquet(version.download(HOLDOUT_ARTIFACT, workdir))
    return holdout.drop(columns=[version.tags.get("target", "")], errors="ignore").head(rows)


def _deploy_and_test(target: Target, held: lease.Lease, attempt: audit.Attempt, new: ModelVersionRef, say: Say) -> None:
    """Serve `new` pinned by version and smoke-test it; the alias has not moved yet."""
    held.check()
    attempt.step("deploying")
    target.deployer.set_model_uri(new.uri)
    say(f"rolling out {new.name} v{new.version} to {target.name}")
    endpoint = target.deployer.roll_out()
    attempt.step("deployed", endpoint=endpoint)
    with tempfile.TemporaryDirectory(prefix="mlops-smoke-") as tmp:
        probe = _probe_rows(new, target.policy.probe_rows, Path(tmp))
    result = smoke_test(endpoint, new.version, new.load(), probe)
    attempt.step("smoke-tested")
    say(f"smoke test passed: {endpoint} serves v{result.version}, {result.rows} probe rows match the registry")


def move_alias(target: Target, held: lease.Lease, attempt: audit.Attempt, model: str, version: str) -> None:
    """The tested version becomes champion; the stack's reference returns to its own form (same version)."""
    held.check()
    _set_alias(target.tracking_uri, model, version)
    target.deployer.set_model_uri(_serving_reference(attempt.serving_uri_before, model, version))
    attempt.step("alias-moved")


def _restore(target: Target, attempt: audit.Attempt, model: str, champion: str | None, say: Say) -> None:
    """Put back the alias, the stack's reference and (if it was touched) serving; `RestoreFailed` if not."""
    try:
        _set_alias(target.tracking_uri, model, champion)
        target.deployer.set_model_uri(attempt.serving_uri_before)
        if "deploying" in attempt.steps:
            endpoint = target.deployer.roll_out()
            if champion is not None:
                wait_for_version(endpoint, champion, RESTORE_TIMEOUT_S)
    except Exception as exc:
        raise RestoreFailed(str(exc)) from exc
    if champion is not None:
        say(f"{target.name} serves v{champion} again")


def undo(target: Target, attempt: audit.Attempt, entry: audit.AuditEntry, cause: str, say: Say) -> Report:
    labels, before = LABELS[entry.action], entry.champion_before or None
    try:
        _restore(target, attempt, entry.model, before, say)
    except RestoreFailed as exc:
        message = (
            f"{cause}; restoring {'v' + before if before else 'no champion'} failed too ({exc}): {target.name} "
            f"may serve neither version. Fix the cause, then run `mlops promote --recover --env {target.name}`"
        )
        attempt.close(audit.RESTORE_FAILED, message)
        return Report(Outcome.RESTORE_FAILED, message)
    message = f"rolled back: {cause}" if entry.action == "promote" else f"rollback failed, restored: {cause}"
    attempt.close(labels.undone, message)
    return Report(Outcome.ROLLED_BACK, message)


def carry_out(
    target: Target,
    held: lease.Lease,
    attempt: audit.Attempt,
    entry: audit.AuditEntry,
    version: Callable[[], ModelVersionRef],
    say: Say,
) -> Report:
    """Get the version (copy it, or find it), deploy, test, move the alias; undo on any failure."""
    try:
        new = version()
        _deploy_and_test(target, held, attempt, new, say)
        move_alias(target, held, attempt, new.name, new.version)
    except lease.LeaseLost as exc:
        return Report(Outcome.ERROR, str(exc))
    except Exception as exc:
        say(f"{entry.action} failed ({exc}); restoring the previous state of {target.name}")
        return undo(target, attempt, entry, str(exc), say)
    message = (
        f"{new.name} v{new.version} is champion in {target.name}"
        if entry.action == "promote"
        else f"{new.name} v{new.version} is champion in {target.name} again"
    )
    attempt.close(LABELS[entry.action].done, message)
    return Report(Outcome.PROMOTED, message, version=new.version)


def pending(target: Target) -> Report | None:
    """An error report while an earlier attempt on the target is unsettled: recover it first."""
    for entry in audit.unfinished(target.tracking_uri, target.name):
        return Report(
            Outcome.ERROR,
            f"{entry.action} {entry.promotion_id} of {entry.model} into {target.name} ({entry.actor}, {entry.when}) "
            f"stopped after '{entry.steps[-1] if entry.steps else 'intent'}' ({entry.outcome}): run "
            f"`mlops promote --recover --env {target.name}` first",
        )
    return None


def locked(target: Target, promotion_id: str, body: Callable[[lease.Lease], Report]) -> Report:
    try:
        with lease.holding(target.tracking_uri, target.name, promotion_id, target.lock_wait_s) as held:
            return body(held)
    except lease.LeaseHeld as exc:
        return Report(Outcome.ERROR, str(exc))


def promote(
    model: str,
    source_env: str,
    source_uri: str,
    target: Target,
    *,
    version: str | None,
    alias: str | None,
    approved_by: str | None,
    say: Say,
) -> Report:
    promotion_id = uuid.uuid4().hex[:12]

    def body(held: lease.Lease) -> Report:
        if (unsettled := pending(target)) is not None:
            return unsettled
        candidate = get_version(source_uri, model, version=version, alias=alias)
        champion = find_alias(target.tracking_uri, model, CHAMPION)
        say(
            f"candidate: {model} v{candidate.version} in {source_env}; champion in {target.name}: "
            f"{'v' + champion.version if champion else 'none'}"
        )
        gates = evaluate_gates(target.policy, candidate, champion, approved_by)
        entry = audit.AuditEntry(
            action="promote",
            outcome=audit.IN_PROGRESS,
            model=model,
            source_env=source_env,
            target_env=target.name,
            source_version=candidate.version,
            target_version="",
            previous_version=champion.version if champion else "",
            approved_by=approved_by or "",
            reason="",
            gates=[g.to_dict() for g in gates],
            promotion_id=promotion_id,
            champion_before=champion.version if champion else "",
        )
        failed = [g for g in gates if not g.passed and g.name != "approval"]
        if failed and target.policy.mode is Mode.ENABLED:
            message = "refused: " + "; ".join(f"{g.name}: {g.detail}" for g in failed)
            audit.record(target.tracking_uri, _replace(entry, outcome="refused", reason=message))
            return Report(Outcome.REFUSED, message, gates)
        if failed:
            say("dry_run policy: these gates failed and are reported only: " + ", ".join(g.name for g in failed))
        approval = next((g for g in gates if g.name == "approval"), None)
        if approval is not None and not approval.passed:
            audit.record(target.tracking_uri, _replace(entry, outcome="needs_approval", reason=approval.detail))
            return Report(Outcome.NEEDS_APPROVAL, approval.detail, gates)

        entry = _replace(entry, serving_uri_before=target.deployer.model_uri())
        attempt = audit.open_attempt(target.tracking_uri, entry)

        def copied() -> ModelVersionRef:
            held.check()
            tags = lineage_tags(source_env, candidate, gates, approved_by, promotion_id)
            new = copy_version(candidate, source_env, target.tracking_uri, tags)
            attempt.step("copied", target_version=new.version)
            say(f"copied to {target.name} as v{new.version} (promotion {promotion_id})")
            return new

        report = carry_out(target, held, attempt, entry, copied, say)
        report.gates = gates
        return report

    return locked(target, promotion_id, body)


def _replace(entry: audit.AuditEntry, **changes: Any) -> audit.AuditEntry:
    from dataclasses import replace

    return replace(entry, **changes)
