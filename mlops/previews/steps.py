"""What the steps of a preview add up to: one change per resource, counts, and the served model."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from contract import Outputs
from mlops.previews.records import (
    COUNTED_OPS,
    REPLACE_OPS,
    UNKNOWN,
    ModelRefChange,
    ResourceChange,
    Step,
    op_name,
    urn_parts,
)

SERVED_SOURCE = f"stack output {Outputs.SERVED_MODEL_URI}"


def logical_changes(steps: list[Step]) -> list[ResourceChange]:
    """One entry per resource: a replacement's create and delete halves fold into one `replace`."""
    by_urn: dict[str, ResourceChange] = {}
    for step in steps:
        if step.op in ("same", "read", "refresh", ""):
            continue
        # The engine leaves providers out of its counts unless one is replaced (which replaces its resources).
        if step.type.startswith("pulumi:providers:") and step.op not in REPLACE_OPS:
            continue
        op = "replace" if step.op in REPLACE_OPS else step.op
        previous = by_urn.get(step.urn)
        if previous is not None and previous.op == "replace" and op != "replace":
            continue
        _, name = urn_parts(step.urn)
        by_urn[step.urn] = ResourceChange(
            op=op,
            urn=step.urn,
            type=step.type,
            name=name,
            replace_reasons=step.replace_reasons or (previous.replace_reasons if previous else ()),
            diff_reasons=step.diff_reasons or (previous.diff_reasons if previous else ()),
        )
    return list(by_urn.values())


def change_counts(summary: Any, steps: list[Step], changes: list[ResourceChange]) -> dict[str, int]:
    if isinstance(summary, Mapping) and summary:
        plain = {op_name(key): int(value) for key, value in summary.items()}
        return {op: plain.get(op, 0) for op in COUNTED_OPS}
    # A failed preview has no summary event: count what the steps show.
    counts = dict.fromkeys(COUNTED_OPS, 0)
    for change in changes:
        if change.op in counts:
            counts[change.op] += 1
    counts["same"] = sum(1 for s in steps if s.op == "same")
    return counts


def _served(outputs: Any) -> str | None:
    value = outputs.get(Outputs.SERVED_MODEL_URI) if isinstance(outputs, Mapping) else None
    return value if isinstance(value, str) and value else None


def served_model_changes(old_outputs: Any, planned_outputs: Any) -> list[ModelRefChange]:
    """The served model before and after, read from the stack output that says which version serves.

    `old_outputs` are the root stack's outputs before the update (None: never deployed); `planned_outputs`
    are the ones the program registered in this preview. Empty output: nothing is served on that side.
    """
    old, new = _served(old_outputs), _served(planned_outputs)
    # A value known only after the update says nothing about the model yet.
    if old == new or new == UNKNOWN:
        return []
    return [ModelRefChange(old=old, new=new, source=SERVED_SOURCE)]


def model_uri_from_config(config: Mapping[str, Any]) -> str | None:
    """`mlops:serving.modelUri` from a stack's config, whether stored as a path key or inside an object."""
    direct = config.get("mlops:serving.modelUri")
    if isinstance(direct, str):
        return direct
    serving = config.get("mlops:serving")
    if isinstance(serving, str):
        try:
            serving = json.loads(serving)
        except json.JSONDecodeError:
            return None
    if isinstance(serving, Mapping) and isinstance(serving.get("modelUri"), str):
        return str(serving["modelUri"])
    return None
