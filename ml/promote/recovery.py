"""Rolling back to the previous champion and settling interrupted attempts, with the same locked,
recorded steps as a promotion (`ml.promote.flow`)."""

from __future__ import annotations

import uuid

from contract import CHAMPION
from ml.promote import audit, lease
from ml.promote.flow import LABELS, Outcome, Report, Say, Target, carry_out, locked, move_alias, pending, undo
from ml.promote.versions import find_alias, get_version


def rollback(model: str, target: Target, *, say: Say) -> Report:
    """Back to the champion before the current one, as the audit log remembers it."""
    promotion_id = uuid.uuid4().hex[:12]

    def body(held: lease.Lease) -> Report:
        if (unsettled := pending(target)) is not None:
            return unsettled
        current = find_alias(target.tracking_uri, model, CHAMPION)
        if current is None:
            return Report(Outcome.ERROR, f"{model} has no champion in {target.name}: nothing to roll back")
        previous_version = _previous_of(target.tracking_uri, model, current.version)
        if not previous_version:
            return Report(Outcome.ERROR, f"the audit log of {target.name} has no champion before v{current.version}")
        previous = get_version(target.tracking_uri, model, version=previous_version)
        entry = audit.AuditEntry(
            action="rollback",
            outcome=audit.IN_PROGRESS,
            model=model,
            source_env=target.name,
            target_env=target.name,
            source_version=current.version,
            target_version=previous.version,
            # Recorded like a promotion, so a second rollback walks further back.
            previous_version=_previous_of(target.tracking_uri, model, previous.version),
            approved_by="",
            reason="",
            gates=[],
            promotion_id=promotion_id,
            serving_uri_before=target.deployer.model_uri(),
            champion_before=current.version,
        )
        say(f"rolling {target.name} back from v{current.version} to v{previous.version}")
        attempt = audit.open_attempt(target.tracking_uri, entry)
        return carry_out(target, held, attempt, entry, lambda: previous, say)

    return locked(target, promotion_id, body)


def recover(target: Target, *, say: Say) -> Report:
    """Settle every interrupted attempt on the target: complete it if its smoke test passed, else undo it."""

    def body(held: lease.Lease) -> Report:
        unfinished = audit.unfinished(target.tracking_uri, target.name)
        if not unfinished:
            return Report(Outcome.PROMOTED, f"nothing to recover in {target.name}: every attempt has an outcome")
        reports = [_recover_one(target, held, entry, say) for entry in unfinished]
        return max(reports, key=lambda r: int(r.outcome))

    return locked(target, uuid.uuid4().hex[:12], body)


def _recover_one(target: Target, held: lease.Lease, entry: audit.AuditEntry, say: Say) -> Report:
    attempt = audit.Attempt(target.tracking_uri, entry.run_id, entry.steps, entry.serving_uri_before)
    last = entry.steps[-1] if entry.steps else "intent"
    say(f"{entry.action} {entry.promotion_id} of {entry.model} stopped after '{last}' ({entry.outcome})")
    attempt.step("recovering")
    tested = "smoke-tested" in entry.steps and entry.outcome == audit.IN_PROGRESS
    if tested and entry.target_version:
        try:
            move_alias(target, held, attempt, entry.model, entry.target_version)
        except lease.LeaseLost as exc:
            return Report(Outcome.ERROR, str(exc))
        except Exception as exc:
            return undo(target, attempt, entry, f"completing the tested v{entry.target_version} failed: {exc}", say)
        message = f"recovered: {entry.model} v{entry.target_version} (smoke-tested) is champion in {target.name}"
        attempt.close(LABELS[entry.action].done, message)
        say(message)
        return Report(Outcome.PROMOTED, message, version=entry.target_version)
    before = f"v{entry.champion_before}" if entry.champion_before else "no champion"
    say(f"undoing it: {target.name} goes back to {before}")
    return undo(target, attempt, entry, f"interrupted after '{last}', undone by --recover", say)


def _previous_of(tracking_uri: str, model: str, version: str) -> str:
    for e in audit.history(tracking_uri, model):
        if e.outcome in {"promoted", "rolled_back_to"} and e.target_version == version:
            return e.previous_version
    return ""
