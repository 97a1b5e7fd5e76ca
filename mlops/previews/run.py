"""Run one stack's preview through the Automation API and keep every engine event.

The events (not the CLI's `--json` digest) are kept because only they carry policy violations. They are
saved in the `{"stack", "summary", "events"}` shape that `mlops env preview --json` prints, so a saved
preview and a captured one read the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


@dataclass(frozen=True)
class PreviewRun:
    stack: str
    document: str
    exit_code: int
    error: str | None = None


def to_plain(value: Any) -> Any:
    """JSON-ready copy of an Automation API event: enums become their values, objects their fields."""
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(to_plain(k)): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if hasattr(value, "__dict__"):
        return {k: to_plain(v) for k, v in vars(value).items() if v is not None and not k.startswith("_")}
    return str(value)


def run_preview(stack: str, *, policy_packs: list[str] | None = None) -> PreviewRun:
    """Preview `stack`; a failed preview still returns its events, which hold the error diagnostics."""
    from pulumi import automation as auto

    from mlops.stacks import select_stack

    try:
        selected = select_stack(stack, create=True)
    except auto.errors.CommandError as exc:
        # Selecting fails before any event exists (a wrong passphrase, an unreachable backend).
        return PreviewRun(stack, "", 1, f"could not select stack '{stack}': {_error_lines(exc)}")
    events: list[Any] = []

    def on_event(event: auto.EngineEvent) -> None:
        events.append(to_plain(event))

    summary: Any = None
    exit_code, error = 0, None
    try:
        result = selected.preview(on_event=on_event, policy_packs=policy_packs or None)
        summary = to_plain(result.change_summary)
    except auto.errors.CommandError as exc:
        exit_code, error = 1, _error_lines(exc)
    document = json.dumps({"stack": stack, "summary": summary, "events": events}, indent=1)
    return PreviewRun(stack, document, exit_code, error)


def _error_lines(exc: Exception) -> str:
    stderr = str(getattr(exc, "stderr", "") or exc)
    lines = [line for line in stderr.splitlines() if line.strip()]
    return "\n".join(lines[-10:])
