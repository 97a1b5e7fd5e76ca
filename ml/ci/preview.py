"""Read one stack's `pulumi preview` output into a `StackPreview`.

Three shapes reach us, and all carry the same facts under different keys:

- the digest that `pulumi preview --json` prints (`steps`, `changeSummary`, `diagnostics`, `config`);
- engine events, one JSON object per line (`PULUMI_ENABLE_STREAMING_JSON_PREVIEW=1 pulumi preview --json`)
  or a JSON array, with camelCase keys (`resourcePreEvent`, `policyEvent`, `summaryEvent`, ...);
- `{"stack", "summary", "events"}` written by `mlops env preview --json` and by
  `mlops ci preview-comment --save-dir`: the Automation API's events with snake_case keys.

Only the events carry policy violations: the CLI's digest drops them, so a digest-only preview says so
in the comment instead of claiming there were none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MODEL_ENV_VAR = "MLOPS_MODEL_URI"
# Pulumi's placeholder for a value that is only known after the update.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
COUNTED_OPS = ("create", "update", "replace", "delete", "same")
CANNOT_RUN = "can't run policy"


class PreviewFormatError(ValueError):
    """The file is not preview output we can read; the message names the file's problem."""


@dataclass(frozen=True)
class ResourceChange:
    op: str
    urn: str
    type: str
    name: str
    replace_reasons: tuple[str, ...] = ()
    diff_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyViolation:
    policy: str
    pack: str
    level: str
    message: str
    urn: str | None


@dataclass(frozen=True)
class ModelRefChange:
    """The serving model reference before and after (None: no serving resource on that side)."""

    old: str | None
    new: str | None
    source: str
    resources: tuple[str, ...] = ()


@dataclass
class StackPreview:
    stack: str
    counts: dict[str, int]
    changes: list[ResourceChange]
    violations: list[PolicyViolation]
    errors: list[str]
    warnings: list[str]
    model_changes: list[ModelRefChange]
    configured_model_uri: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    deferred: list[PolicyViolation] = field(default_factory=list)
    """Policies the engine could not run in preview (an input known only after the update)."""
    program_stderr: list[str] = field(default_factory=list)
    policy_events_available: bool = True
    policy_packs: dict[str, str] | None = None
    """Packs that ran (name -> version), from the summary event; None where the input cannot tell."""
    failed: bool = False

    @property
    def replaced(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.op == "replace"]

    def has_changes(self) -> bool:
        return any(self.counts.get(op, 0) for op in ("create", "update", "replace", "delete"))


@dataclass(frozen=True)
class _Step:
    op: str
    urn: str
    type: str
    old_inputs: Any
    new_inputs: Any
    old_outputs: Any
    replace_reasons: tuple[str, ...]
    diff_reasons: tuple[str, ...]


def _get(obj: Any, *keys: str) -> Any:
    """The first present key: the same field is camelCase from the CLI and snake_case from Python."""
    if not isinstance(obj, Mapping):
        return None
    for key in keys:
        if key in obj and obj[key] is not None:
            return obj[key]
    return None


def _op(value: Any) -> str:
    # The Automation API's OpType may arrive as its enum repr when serialised naively.
    text = str(value or "")
    return text.split(".", 1)[1].lower().replace("_", "-") if text.startswith("OpType.") else text


def _urn_parts(urn: str) -> tuple[str, str]:
    """(type, name) of a URN `urn:pulumi:stack::project::parent$type::name`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", urn
    return parts[2].rsplit("$", 1)[-1], "::".join(parts[3:])


def _parse_documents(text: str, source: str) -> Any:
    if not text.strip():
        raise PreviewFormatError(f"{source} is empty: the preview printed nothing, see its log for the error.")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise PreviewFormatError(
                f"{source} line {number} is not JSON ({exc.msg}): pass the output of `pulumi preview --json` "
                "(digest or streamed events) or a file saved by `mlops ci preview-comment --save-dir`, "
                "with nothing else mixed in."
            ) from exc
    return events


def load_preview(stack: str, text: str, *, source: str = "the preview") -> StackPreview:
    """Parse preview output of any of the three shapes (see the module docstring)."""
    document = _parse_documents(text, source)
    if isinstance(document, list):
        return _from_events(stack, document, summary=None)
    if not isinstance(document, Mapping):
        raise PreviewFormatError(f"{source} holds a JSON {type(document).__name__}, not a preview.")
    if isinstance(document.get("events"), list):
        return _from_events(stack, document["events"], summary=document.get("summary"))
    if any(key in document for key in ("steps", "changeSummary", "diagnostics")):
        return _from_digest(stack, document)
    if _get(document, "resourcePreEvent", "resource_pre_event", "summaryEvent", "summary_event") is not None:
        return _from_events(stack, [document], summary=None)
    raise PreviewFormatError(
        f"{source} is JSON but not preview output: expected `steps`/`changeSummary` (pulumi preview --json) "
        f"or engine events; found keys {sorted(document)[:8]}."
    )


def _from_digest(stack: str, digest: Mapping[str, Any]) -> StackPreview:
    steps = []
    for raw in digest.get("steps") or []:
        old, new = raw.get("oldState") or {}, raw.get("newState") or {}
        urn = str(raw.get("urn", ""))
        steps.append(
            _Step(
                op=_op(raw.get("op")),
                urn=urn,
                type=str(new.get("type") or old.get("type") or _urn_parts(urn)[0]),
                old_inputs=old.get("inputs"),
                new_inputs=new.get("inputs"),
                old_outputs=old.get("outputs"),
                replace_reasons=tuple(raw.get("replaceReasons") or ()),
                diff_reasons=tuple(raw.get("diffReasons") or ()),
            )
        )
    errors, warnings, stderr = _diagnostics(
        (d.get("severity"), d.get("message"), d.get("urn"), False) for d in digest.get("diagnostics") or []
    )
    preview = _assemble(
        stack,
        steps,
        digest.get("changeSummary"),
        [],
        errors,
        warnings,
        digest.get("config") or {},
        policy_events_available=False,
    )
    preview.program_stderr = stderr
    return preview


def _from_events(stack: str, events: list[Any], summary: Any) -> StackPreview:
    steps: list[_Step] = []
    violations: list[PolicyViolation] = []
    diags: list[tuple[Any, Any, Any, Any]] = []
    config: Mapping[str, Any] = {}
    policy_packs: dict[str, str] | None = None
    planned_outputs: dict[str, Any] = {}
    for event in events:
        if not isinstance(event, Mapping):
            raise PreviewFormatError(f"an engine event is a JSON {type(event).__name__}, not an object.")
        if (pre := _get(event, "resourcePreEvent", "resource_pre_event")) is not None:
            meta = _get(pre, "metadata") or {}
            old, new = _get(meta, "old") or {}, _get(meta, "new") or {}
            urn = str(_get(meta, "urn") or "")
            steps.append(
                _Step(
                    op=_op(_get(meta, "op")),
                    urn=urn,
                    type=str(_get(meta, "type") or _urn_parts(urn)[0]),
                    old_inputs=_get(old, "inputs"),
                    new_inputs=_get(new, "inputs"),
                    old_outputs=_get(old, "outputs"),
                    replace_reasons=tuple(_get(meta, "keys") or ()),
                    diff_reasons=tuple(_get(meta, "diffs") or ()),
                )
            )
        elif (policy := _get(event, "policyEvent", "policy_event")) is not None:
            violations.append(
                PolicyViolation(
                    policy=str(_get(policy, "policyName", "policy_name") or "?"),
                    pack=str(_get(policy, "policyPackName", "policy_pack_name") or "?"),
                    level=str(_get(policy, "enforcementLevel", "enforcement_level") or "?"),
                    message=str(_get(policy, "message") or "").strip(),
                    urn=_get(policy, "resourceUrn", "resource_urn"),
                )
            )
        elif (diag := _get(event, "diagnosticEvent", "diagnostic_event")) is not None:
            message = f"{_get(diag, 'prefix') or ''}{_get(diag, 'message') or ''}"
            diags.append((_get(diag, "severity"), message, _get(diag, "urn"), bool(_get(diag, "ephemeral"))))
        elif (summary_event := _get(event, "summaryEvent", "summary_event")) is not None:
            summary = _get(summary_event, "resourceChanges", "resource_changes") or summary
            # The CLI's JSON spells this one key with a capital P.
            packs = _get(summary_event, "PolicyPacks", "policyPacks", "policy_packs") or {}
            policy_packs = {str(k): str(v) for k, v in packs.items()} if isinstance(packs, Mapping) else {}
        elif (prelude := _get(event, "preludeEvent", "prelude_event")) is not None:
            config = _get(prelude, "config") or {}
        elif (done := _get(event, "resOutputsEvent", "res_outputs_event")) is not None:
            meta = _get(done, "metadata") or {}
            if _get(meta, "type") == ROOT_STACK_TYPE and isinstance(_get(_get(meta, "new"), "outputs"), Mapping):
                planned_outputs = dict(_get(_get(meta, "new"), "outputs"))
    errors, warnings, stderr = _diagnostics(diags)
    if not steps and isinstance(summary, Mapping) and any(_op(k) != "same" and v for k, v in summary.items()):
        # Counts without a single resource event: the capture lost them, and the comment would look clean.
        errors.append(
            "the preview reports changes but holds no resource events, so it was captured incompletely: "
            "capture it again with `mlops ci preview-comment --stack` or `--save-dir`"
        )
    preview = _assemble(stack, steps, summary, violations, errors, warnings, config, policy_events_available=True)
    preview.policy_packs = policy_packs
    preview.program_stderr = stderr
    # A stack that was never deployed has no outputs yet; the planned ones say where it will be.
    preview.outputs = preview.outputs or {k: v for k, v in planned_outputs.items() if v != UNKNOWN}
    return preview


def _diagnostics(items: Iterable[tuple[Any, Any, Any, Any]]) -> tuple[list[str], list[str], list[str]]:
    """(errors, warnings, the program's stderr); plain info is display noise and is dropped."""
    errors: list[str] = []
    warnings: list[str] = []
    stderr: list[str] = []
    for severity, message, urn, ephemeral in items:
        text = str(message or "").strip()
        if ephemeral or not text:
            continue
        where = f"{_urn_parts(str(urn))[1]}: " if urn else ""
        # The CLI folds the severity into the text ("warning: ..."); the comment's heading already says it.
        for prefix in ("error: ", "warning: "):
            text = text.removeprefix(prefix)
        if severity == "error":
            errors.append(where + text)
        elif severity == "warning":
            warnings.append(where + text)
        elif severity == "info#err":
            stderr.append(text)
    return _dedupe(errors), _dedupe(warnings), _dedupe(stderr)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _assemble(
    stack: str,
    steps: list[_Step],
    summary: Any,
    violations: list[PolicyViolation],
    errors: list[str],
    warnings: list[str],
    config: Mapping[str, Any],
    *,
    policy_events_available: bool,
) -> StackPreview:
    changes = _logical_changes(steps)
    counts = _counts(summary, steps, changes)
    outputs: dict[str, Any] = {}
    for step in steps:
        if step.type == ROOT_STACK_TYPE and isinstance(step.old_outputs, Mapping):
            outputs = dict(step.old_outputs)
    # The engine reports a policy it could not evaluate as an advisory event; it is not a violation.
    deferred = [v for v in violations if v.message.startswith(CANNOT_RUN)]
    violations = [v for v in violations if not v.message.startswith(CANNOT_RUN)]
    return StackPreview(
        stack=stack,
        counts=counts,
        changes=changes,
        violations=violations,
        deferred=deferred,
        errors=errors,
        warnings=warnings,
        model_changes=model_changes_from_steps(steps),
        configured_model_uri=model_uri_from_config(config),
        outputs=outputs,
        policy_events_available=policy_events_available,
        failed=bool(errors) or any(v.level == "mandatory" for v in violations),
    )


def _logical_changes(steps: list[_Step]) -> list[ResourceChange]:
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
        _, name = _urn_parts(step.urn)
        by_urn[step.urn] = ResourceChange(
            op=op,
            urn=step.urn,
            type=step.type,
            name=name,
            replace_reasons=step.replace_reasons or (previous.replace_reasons if previous else ()),
            diff_reasons=step.diff_reasons or (previous.diff_reasons if previous else ()),
        )
    return list(by_urn.values())


def _counts(summary: Any, steps: list[_Step], changes: list[ResourceChange]) -> dict[str, int]:
    if isinstance(summary, Mapping) and summary:
        plain = {_op(key): int(value) for key, value in summary.items()}
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


def model_changes_from_steps(steps: Iterable[_Step]) -> list[ModelRefChange]:
    """Changed serving model references, one entry per distinct old -> new pair."""
    pairs: dict[tuple[str | None, str | None], list[str]] = {}
    for step in steps:
        if step.op in ("same", "read", "refresh"):
            continue
        old = _single(list(_model_uris(step.old_inputs))) if step.op != "create" else None
        new = _single(list(_model_uris(step.new_inputs))) if step.op not in ("delete", "delete-replaced") else None
        if old == new or (old is None and new is None):
            continue
        pairs.setdefault((old, new), []).append(_urn_parts(step.urn)[1])
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
