"""Promotion and rollback: gates, copy with lineage, alias, rollout, smoke test; undo everything on failure."""

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
from ml.promote import audit
from ml.promote.checks import GateResult, evaluate_gates
from ml.promote.promotion_policy import Mode, PromotionPolicy
from ml.promote.transfer import copy_version, lineage_tags
from ml.promote.versions import ModelVersionRef, find_alias, get_version
from ml.registry import HOLDOUT_ARTIFACT
from ml.smoke import smoke_test

log = logging.getLogger(__name__)


class Outcome(IntEnum):
    """The exit code of `mlops promote`, for CI."""

    PROMOTED = 0
    ERROR = 1
    REFUSED = 2
    NEEDS_APPROVAL = 3
    ROLLED_BACK = 4


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


@dataclass
class Report:
    outcome: Outcome
    message: str
    gates: list[GateResult] = field(default_factory=list)
    version: str = ""


Say = Callable[[str], None]


def _serving_reference(current: str, model: str, version: str) -> str:
    """Pinned references move to the new version; alias references stay (the alias moves instead)."""
    if not current:
        return f"models:/{model}@{CHAMPION}"
    if current.startswith(f"models:/{model}/"):
        return f"models:/{model}/{version}"
    return current


def _set_alias(tracking_uri: str, model: str, version: str | None) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if version is None:
        client.delete_registered_model_alias(model, CHAMPION)
    else:
        client.set_registered_model_alias(model, CHAMPION, version)


def _probe_rows(version: ModelVersionRef, rows: int, workdir: Path):
    import pandas as pd

    holdout = pd.read_parquet(version.download(HOLDOUT_ARTIFACT, workdir))
    return holdout.drop(columns=[version.tags.get("target", "")], errors="ignore").head(rows)


def roll_out_version(target: Target, new: ModelVersionRef, previous: ModelVersionRef | None, say: Say) -> None:
    """Alias, stack config, rollout and smoke test; on any failure put back alias, config and serving."""
    old_uri = target.deployer.model_uri()
    try:
        _set_alias(target.tracking_uri, new.name, new.version)
        target.deployer.set_model_uri(_serving_reference(old_uri, new.name, new.version))
        say(f"rolling out {new.name} v{new.version} to {target.name}")
        endpoint = target.deployer.roll_out()
        with tempfile.TemporaryDirectory(prefix="mlops-smoke-") as tmp:
            probe = _probe_rows(new, target.policy.probe_rows, Path(tmp))
        result = smoke_test(endpoint, new.version, new.load(), probe)
        say(f"smoke test passed: {endpoint} serves v{result.version}, {result.rows} probe rows match the registry")
    except Exception as exc:
        say(f"rollout of v{new.version} failed ({exc}); restoring the previous state of {target.name}")
        _set_alias(target.tracking_uri, new.name, previous.version if previous else None)
        target.deployer.set_model_uri(old_uri)
        if previous is not None:
            target.deployer.roll_out()
            say(f"{target.name} serves v{previous.version} again")
        raise


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
    candidate = get_version(source_uri, model, version=version, alias=alias)
    champion = find_alias(target.tracking_uri, model, CHAMPION)
    say(
        f"candidate: {model} v{candidate.version} in {source_env}; champion in {target.name}: "
        f"{'v' + champion.version if champion else 'none'}"
    )
    gates = evaluate_gates(target.policy, candidate, champion, approved_by)
    entry: dict[str, Any] = dict(
        model=model,
        source_env=source_env,
        target_env=target.name,
        source_version=candidate.version,
        previous_version=champion.version if champion else "",
        approved_by=approved_by or "",
        gates=[g.to_dict() for g in gates],
    )

    def finish(outcome: Outcome, label: str, message: str, target_version: str = "") -> Report:
        audit.record(
            target.tracking_uri,
            audit.AuditEntry(action="promote", outcome=label, reason=message, target_version=target_version, **entry),
        )
        return Report(outcome, message, gates, target_version)

    failed = [g for g in gates if not g.passed and g.name != "approval"]
    if failed and target.policy.mode is Mode.ENABLED:
        return finish(Outcome.REFUSED, "refused", "refused: " + "; ".join(f"{g.name}: {g.detail}" for g in failed))
    if failed:
        say("dry_run policy: these gates failed and are reported only: " + ", ".join(g.name for g in failed))
    approval = next((g for g in gates if g.name == "approval"), None)
    if approval is not None and not approval.passed:
        return finish(Outcome.NEEDS_APPROVAL, "needs_approval", approval.detail)
    promotion_id = uuid.uuid4().hex[:12]
    new = copy_version(
        candidate,
        source_env,
        target.tracking_uri,
        lineage_tags(source_env, candidate, gates, approved_by, promotion_id),
    )
    say(f"copied to {target.name} as v{new.version} (promotion {promotion_id})")
    try:
        roll_out_version(target, new, champion, say)
    except Exception as exc:
        return finish(Outcome.ROLLED_BACK, "rolled_back", f"rolled back: {exc}", new.version)
    return finish(Outcome.PROMOTED, "promoted", f"{model} v{new.version} is champion in {target.name}", new.version)


def rollback(model: str, target: Target, *, say: Say) -> Report:
    """Back to the champion before the current one, as the audit log remembers it."""
    current = find_alias(target.tracking_uri, model, CHAMPION)
    if current is None:
        return Report(Outcome.ERROR, f"{model} has no champion in {target.name}: nothing to roll back")
    promoted = [
        e
        for e in audit.history(target.tracking_uri, model)
        if e.outcome in {"promoted", "rolled_back_to"} and e.target_version == current.version
    ]
    if not promoted or not promoted[0].previous_version:
        return Report(Outcome.ERROR, f"the audit log of {target.name} has no champion before v{current.version}")
    previous = get_version(target.tracking_uri, model, version=promoted[0].previous_version)
    entry: dict[str, Any] = dict(
        action="rollback",
        model=model,
        source_env=target.name,
        target_env=target.name,
        source_version=current.version,
        target_version=previous.version,
        approved_by="",
        gates=[],
    )
    say(f"rolling {target.name} back from v{current.version} to v{previous.version}")
    try:
        roll_out_version(target, previous, current, say)
    except Exception as exc:
        message = f"rollback failed, v{current.version} restored: {exc}"
        audit.record(
            target.tracking_uri,
            audit.AuditEntry(outcome="failed", previous_version=current.version, reason=message, **entry),
        )
        return Report(Outcome.ROLLED_BACK, message)
    message = f"{model} v{previous.version} is champion in {target.name} again"
    # Recorded like a promotion, so a second rollback walks further back.
    audit.record(
        target.tracking_uri,
        audit.AuditEntry(
            outcome="rolled_back_to",
            previous_version=_previous_of(target.tracking_uri, model, previous.version),
            reason=message,
            **entry,
        ),
    )
    return Report(Outcome.PROMOTED, message, version=previous.version)


def _previous_of(tracking_uri: str, model: str, version: str) -> str:
    for e in audit.history(tracking_uri, model):
        if e.outcome in {"promoted", "rolled_back_to"} and e.target_version == version:
            return e.previous_version
    return ""
