"""What the steps of a preview add up to: one change per resource, counts, serving model references."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mlops.previews.records import (
    COUNTED_OPS,
    MODEL_ENV_VAR,
    REPLACE_OPS,
    ModelRefChange,
    ResourceChange,
    Step,
    op_name,
    urn_parts,
)


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


def _model_uris(value: Any) -> Iterator[str]:
    """Every MLOPS_MODEL_URI value in a resource's inputs, whatever the provider's shape for env vars.

    Docker containers list `NAME=value` strings; Kubernetes containers list `{name, value}` objects.
    """
    if isinstance(value, str):
        if value.startswith(MODEL_ENV_VAR + "="):
            yield value[len(MODEL_ENV_VAR) + 1 :]
    elif isinstance(value, Mapping):
        if value.get("name") == MODEL_ENV_VAR and isinstance(value.get("value"), str):
            yield value["value"]
        elif isinstance(value.get(MODEL_ENV_VAR), str):
            yield value[MODEL_ENV_VAR]
        else:
            for item in value.values():
                yield from _model_uris(item)
    elif isinstance(value, list):
        for item in value:
            yield from _model_uris(item)


def _single(values: list[str]) -> str | None:
    distinct = list(dict.fromkeys(values))
    return distinct[0] if distinct else None


def model_changes_from_steps(steps: Iterable[Step]) -> list[ModelRefChange]:
    """Changed serving model references, one entry per distinct old -> new pair."""
    pairs: dict[tuple[str | None, str | None], list[str]] = {}
    for step in steps:
        if step.op in ("same", "read", "refresh"):
            continue
        old = _single(list(_model_uris(step.old_inputs))) if step.op != "create" else None
        new = _single(list(_model_uris(step.new_inputs))) if step.op not in ("delete", "delete-replaced") else None
        if old == new or (old is None and new is None):
            continue
        pairs.setdefault((old, new), []).append(urn_parts(step.urn)[1])
    return [
        ModelRefChange(old=old, new=new, source="serving containers", resources=tuple(dict.fromkeys(names)))
        for (old, new), names in _fold_scaling(pairs).items()
    ]


def _fold_scaling(
    pairs: dict[tuple[str | None, str | None], list[str]],
) -> dict[tuple[str | None, str | None], list[str]]:
    """A replica added or removed alongside a real change is part of that change, not a change of its own."""
    real = [(old, new) for old, new in pairs if old is not None and new is not None]
    if not real:
        return pairs
    folded: dict[tuple[str | None, str | None], list[str]] = {pair: list(pairs[pair]) for pair in real}
    for (old, new), names in pairs.items():
        if old is not None and new is not None:
            continue
        target = next((p for p in real if (new is not None and p[1] == new) or (old is not None and p[0] == old)), None)
        if target is None:
            folded[(old, new)] = list(names)
        else:
            folded[target] += names
    return folded


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
