"""The promotion audit log of an environment: one MLflow run per attempt in the environment's own tracking
server, so the record lives (and is backed up) with the registry it describes.

An attempt that changes anything is opened with its intent (outcome `in_progress`, what was served and
who was champion before) before the first change, gains one step record after each step, and is closed
with its outcome. An attempt still `in_progress` is a promotion that was interrupted: `unfinished` finds
it and `mlops promote --recover` settles it. Long values (gate results, reasons) are split over several
tags and joined again on reading, so nothing is cut at MLflow's tag length limit.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EXPERIMENT = "mlops-promotions"
IN_PROGRESS = "in_progress"
RESTORE_FAILED = "rolled_back_failed"
UNSETTLED = (IN_PROGRESS, RESTORE_FAILED)
"""Outcomes of an attempt that left the target in doubt: `--recover` settles them, promotions wait for it."""
TAG_CHUNK = 5000  # MLflow servers before 2.x refuse tag values over 5000 characters
BATCH = 100  # MLflow's log_batch limit on tags per request


def actor() -> str:
    """Who is promoting: the CI actor when CI runs it, else the local user."""
    return os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or getpass.getuser()


def experiment_id(client: Any, name: str) -> str:
    """The experiment's id, created on first use (two creators racing: the loser reads the winner's)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


@dataclass(frozen=True)
class AuditEntry:
    action: str  # promote | rollback
    # promoted | refused | needs_approval | rolled_back | rolled_back_to | failed | rolled_back_failed
    # | in_progress (an interrupted attempt, until `--recover`)
    outcome: str
    model: str
    source_env: str
    target_env: str
    source_version: str
    target_version: str
    previous_version: str
    approved_by: str
    reason: str
    gates: list[Mapping[str, Any]]
    actor: str = ""
    when: str = ""
    promotion_id: str = ""
    serving_uri_before: str = ""
    """The target's serving model reference when the attempt started (what an undo puts back)."""
    champion_before: str = ""
    """The target's champion version when the attempt started ("" for none)."""
    steps: list[str] = field(default_factory=list)
    run_id: str = ""


def _split(key: str, value: str) -> dict[str, str]:
    """`value` under `key`, or over `key.0`, `key.1`, ... with `key.parts` when it is too long for one tag."""
    if len(value) <= TAG_CHUNK:
        return {key: value}
    parts = [value[i : i + TAG_CHUNK] for i in range(0, len(value), TAG_CHUNK)]
    return {key: "", f"{key}.parts": str(len(parts)), **{f"{key}.{i}": part for i, part in enumerate(parts)}}


def _joined(tags: Mapping[str, str], key: str) -> str:
    parts = tags.get(f"{key}.parts")
    if parts is None:
        return tags.get(key, "")
    return "".join(tags.get(f"{key}.{i}", "") for i in range(int(parts)))


def _tags(entry: AuditEntry) -> dict[str, str]:
    return {
        "audit.action": entry.action,
        "audit.outcome": entry.outcome,
        "audit.model": entry.model,
        "audit.source_env": entry.source_env,
        "audit.target_env": entry.target_env,
        "audit.source_version": entry.source_version,
        "audit.target_version": entry.target_version,
        "audit.previous_version": entry.previous_version,
        "audit.approved_by": entry.approved_by,
        "audit.actor": entry.actor or actor(),
        "audit.promotion_id": entry.promotion_id,
        "audit.serving_uri_before": entry.serving_uri_before,
        "audit.champion_before": entry.champion_before,
        **_split("audit.reason", entry.reason),
        **_split("audit.gates", json.dumps(list(entry.gates))),
    }


def _set_tags(client: Any, run_id: str, tags: Mapping[str, str]) -> None:
    from mlflow.entities import RunTag

    items = [RunTag(k, v) for k, v in tags.items()]
    for i in range(0, len(items), BATCH):
        client.log_batch(run_id, tags=items[i : i + BATCH], synchronous=True)


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


class Attempt:
    """An open attempt: its intent is recorded; `step` records progress, `close` the outcome."""

    def __init__(
        self, tracking_uri: str, run_id: str, steps: list[str] | None = None, serving_uri_before: str = ""
    ) -> None:
        self.tracking_uri, self.run_id, self.serving_uri_before = tracking_uri, run_id, serving_uri_before
        self.steps = list(steps or [])
        self._client = _client(tracking_uri)

    def step(self, name: str, **details: str) -> None:
        """One durable record: `name` happened (with `details`, e.g. the new version)."""
        self.steps.append(name)
        tags = {f"audit.step.{len(self.steps):02d}": f"{name} {time.time():.3f}", "audit.step": name}
        tags.update({f"audit.{key}": value for key, value in details.items()})
        _set_tags(self._client, self.run_id, tags)

    def close(self, outcome: str, reason: str, **details: str) -> None:
        self.step(outcome, **details)
        _set_tags(self._client, self.run_id, {"audit.outcome": outcome, **_split("audit.reason", reason)})
        self._client.set_terminated(self.run_id, "FAILED" if outcome == RESTORE_FAILED else "FINISHED")


def open_attempt(tracking_uri: str, entry: AuditEntry) -> Attempt:
    """Record the intent of `entry` (outcome `in_progress`) before anything changes."""
    client = _client(tracking_uri)
    run = client.create_run(
        experiment_id(client, EXPERIMENT), run_name=f"{entry.action} {entry.model} ({entry.promotion_id})"
    )
    _set_tags(client, run.info.run_id, {**_tags(entry), "audit.outcome": IN_PROGRESS})
    attempt = Attempt(tracking_uri, run.info.run_id, serving_uri_before=entry.serving_uri_before)
    attempt.step("intent")
    return attempt


def record(tracking_uri: str, entry: AuditEntry) -> str:
    """One closed record: an attempt that changed nothing (refused, needs approval) or a finished action."""
    client = _client(tracking_uri)
    run = client.create_run(
        experiment_id(client, EXPERIMENT), run_name=f"{entry.action} {entry.model} -> {entry.outcome}"
    )
    _set_tags(client, run.info.run_id, _tags(entry))
    client.set_terminated(run.info.run_id, "FINISHED")
    return str(run.info.run_id)


def _entry(run: Any) -> AuditEntry:
    from datetime import UTC, datetime

    tags = run.data.tags
    tag = tags.get
    steps = [tags[k].rsplit(" ", 1)[0] for k in sorted(t for t in tags if t[len("audit.step.") :].isdigit())]
    return AuditEntry(
        action=tag("audit.action", ""),
        outcome=tag("audit.outcome", ""),
        model=tag("audit.model", ""),
        source_env=tag("audit.source_env", ""),
        target_env=tag("audit.target_env", ""),
        source_version=tag("audit.source_version", ""),
        target_version=tag("audit.target_version", ""),
        previous_version=tag("audit.previous_version", ""),
        approved_by=tag("audit.approved_by", ""),
        reason=_joined(tags, "audit.reason"),
        gates=json.loads(_joined(tags, "audit.gates") or "[]"),
        actor=tag("audit.actor", ""),
        when=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).isoformat(timespec="seconds"),
        promotion_id=tag("audit.promotion_id", ""),
        serving_uri_before=tag("audit.serving_uri_before", ""),
        champion_before=tag("audit.champion_before", ""),
        steps=steps,
        run_id=run.info.run_id,
    )


def _search(tracking_uri: str, query: str, limit: int) -> list[AuditEntry]:
    client = _client(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=query, max_results=limit, order_by=["attributes.start_time DESC"]
    )
    return [_entry(run) for run in runs]


def history(tracking_uri: str, model: str | None = None, limit: int = 50) -> list[AuditEntry]:
    """Newest first."""
    return _search(tracking_uri, f"tags.`audit.model` = '{model}'" if model else "", limit)


def unfinished(tracking_uri: str, env: str) -> list[AuditEntry]:
    """Attempts on `env` that were interrupted or whose restore failed (`UNSETTLED`), oldest first."""
    found = [
        entry
        for outcome in UNSETTLED
        for entry in _search(
            tracking_uri, f"tags.`audit.target_env` = '{env}' and tags.`audit.outcome` = '{outcome}'", 100
        )
    ]
    return sorted(found, key=lambda e: (e.when, e.run_id))
