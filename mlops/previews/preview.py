"""Read one stack's `pulumi preview` output into a `StackPreview`.

Three shapes reach us, and all carry the same facts under different keys:

- the digest that `pulumi preview --json` prints (`steps`, `changeSummary`, `diagnostics`, `config`);
- engine events, one JSON object per line (`PULUMI_ENABLE_STREAMING_JSON_PREVIEW=1 pulumi preview --json`)
  or a JSON array, with camelCase keys (`resourcePreEvent`, `policyEvent`, `summaryEvent`, ...);
- `{"stack", "summary", "events"}` written by `mlops env preview --json` and by
  `mlops ci preview-comment --save-dir`: the Automation API's events with snake_case keys.

Only the events carry policy violations and the stack outputs the program plans (among them the served
model, `contract.Outputs.SERVED_MODEL_URI`): the CLI's digest drops both (it swaps in output events only
for refreshes), so a digest-only preview says so in the comment instead of claiming there were none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from mlops.previews.records import (
    CANNOT_RUN,
    ROOT_STACK_TYPE,
    UNKNOWN,
    PolicyViolation,
    StackPreview,
    Step,
    op_name,
    urn_parts,
)
from mlops.previews.steps import change_counts, logical_changes, model_uri_from_config, served_model_changes


class PreviewFormatError(ValueError):
    """The file is not preview output we can read; the message names the file's problem."""


def _get(obj: Any, *keys: str) -> Any:
    """The first present key: the same field is camelCase from the CLI and snake_case from Python."""
    if not isinstance(obj, Mapping):
        return None
    for key in keys:
        if key in obj and obj[key] is not None:
            return obj[key]
    return None


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
            Step(
                op=op_name(raw.get("op")),
                urn=urn,
                type=str(new.get("type") or old.get("type") or urn_parts(urn)[0]),
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
        planned_outputs=None,
    )
    preview.program_stderr = stderr
    return preview


def _from_events(stack: str, events: list[Any], summary: Any) -> StackPreview:
    steps: list[Step] = []
    violations: list[PolicyViolation] = []
    diags: list[tuple[Any, Any, Any, Any]] = []
    config: Mapping[str, Any] = {}
    policy_packs: dict[str, str] | None = None
    planned_outputs: dict[str, Any] | None = None
    for event in events:
        if not isinstance(event, Mapping):
            raise PreviewFormatError(f"an engine event is a JSON {type(event).__name__}, not an object.")
        if (pre := _get(event, "resourcePreEvent", "resource_pre_event")) is not None:
            meta = _get(pre, "metadata") or {}
            old, new = _get(meta, "old") or {}, _get(meta, "new") or {}
            urn = str(_get(meta, "urn") or "")
            steps.append(
                Step(
                    op=op_name(_get(meta, "op")),
                    urn=urn,
                    type=str(_get(meta, "type") or urn_parts(urn)[0]),
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
            outputs = _get(_get(meta, "new"), "outputs")
            # The root stack reports twice: empty when it starts, then what the program registered.
            if _get(meta, "type") == ROOT_STACK_TYPE and isinstance(outputs, Mapping) and outputs:
                planned_outputs = dict(outputs)
    errors, warnings, stderr = _diagnostics(diags)
    if not steps and isinstance(summary, Mapping) and any(op_name(k) != "same" and v for k, v in summary.items()):
        # Counts without a single resource event: the capture lost them, and the comment would look clean.
        errors.append(
            "the preview reports changes but holds no resource events, so it was captured incompletely: "
            "capture it again with `mlops ci preview-comment --stack` or `--save-dir`"
        )
    preview = _assemble(
        stack,
        steps,
        summary,
        violations,
        errors,
        warnings,
        config,
        policy_events_available=True,
        planned_outputs=planned_outputs,
    )
    preview.policy_packs = policy_packs
    preview.program_stderr = stderr
    # A stack that was never deployed has no outputs yet; the planned ones say where it will be.
    preview.outputs = preview.outputs or {k: v for k, v in (planned_outputs or {}).items() if v != UNKNOWN}
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
        where = f"{urn_parts(str(urn))[1]}: " if urn else ""
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
    steps: list[Step],
    summary: Any,
    violations: list[PolicyViolation],
    errors: list[str],
    warnings: list[str],
    config: Mapping[str, Any],
    *,
    policy_events_available: bool,
    planned_outputs: Mapping[str, Any] | None,
) -> StackPreview:
    """`planned_outputs`: the root stack's outputs registered in this preview; None where the input lacks them."""
    changes = logical_changes(steps)
    counts = change_counts(summary, steps, changes)
    outputs: dict[str, Any] = {}
    for step in steps:
        if step.type == ROOT_STACK_TYPE and isinstance(step.old_outputs, Mapping):
            outputs = dict(step.old_outputs)
    served_known = planned_outputs is not None
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
        model_changes=served_model_changes(outputs or None, planned_outputs) if served_known else [],
        configured_model_uri=model_uri_from_config(config),
        served_model_known=served_known,
        outputs=outputs,
        policy_events_available=policy_events_available,
        failed=bool(errors) or any(v.level == "mandatory" for v in violations),
    )
