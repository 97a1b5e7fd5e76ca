"""Render the pull-request comment: a summary table of every stack, then what needs a reviewer's eye.

The first line is a hidden marker, so the workflow finds its own comment and edits it instead of
adding a new one on every push.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml.markdown import cell as _cell
from ml.markdown import code as _code
from ml.promote.model_change import ModelComparison
from ml.promote.model_section import model_section
from mlops.previews.records import ResourceChange, StackPreview

MARKER = "<!-- mlops:ci:preview-comment -->"
# GitHub rejects comment bodies above 65536 characters; leave room for the marker and the footer.
MAX_CHARS = 60_000


@dataclass
class StackReport:
    stack: str
    preview: StackPreview | None
    problem: str | None = None
    exit_code: int | None = None
    models: list[ModelComparison] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return (
            self.problem is not None
            or self.exit_code not in (None, 0)
            or (self.preview is not None and self.preview.failed)
        )


def _status(report: StackReport) -> str:
    preview = report.preview
    if report.failed:
        return "❌ failed"
    if preview is None:
        return "❔ no preview"
    if preview.replaced:
        return "⚠️ replaces"
    return "🟢 changes" if preview.has_changes() else "⚪ no changes"


def _policy_cell(report: StackReport) -> str:
    preview = report.preview
    if preview is None:
        return "-"
    if not preview.policy_events_available:
        return "not reported"
    if not preview.violations:
        return "no pack ran" if preview.policy_packs == {} else "none"
    levels: dict[str, int] = {}
    for violation in preview.violations:
        levels[violation.level] = levels.get(violation.level, 0) + 1
    return ", ".join(f"{count} {level}" for level, count in sorted(levels.items()))


def _summary_table(reports: list[StackReport]) -> list[str]:
    lines = [
        "| Stack | Result | Create | Update | Replace | Delete | Unchanged | Policy violations |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for report in reports:
        counts = report.preview.counts if report.preview else {}

        def n(op: str, counts: dict[str, int] = counts) -> str:
            return str(counts.get(op, 0)) if counts else "-"

        lines.append(
            f"| {_code(report.stack)} | {_status(report)} | {n('create')} | {n('update')} | {n('replace')} "
            f"| {n('delete')} | {n('same')} | {_policy_cell(report)} |"
        )
    return lines


def _reasons(change: ResourceChange) -> str:
    keys = change.replace_reasons if change.op == "replace" else change.diff_reasons
    return ", ".join(_code(k) for k in keys) if keys else "-"


def _replaced(preview: StackPreview) -> list[str]:
    if not preview.replaced:
        return []
    lines = [
        f"**Replaced resources ({len(preview.replaced)})**: deleted and created again, check for downtime "
        "or lost data.",
        "",
    ]
    lines += [f"- {_code(c.type)} **{_cell(c.name)}**, because of {_reasons(c)}" for c in preview.replaced]
    return [*lines, ""]


def _deferred(preview: StackPreview) -> list[str]:
    if not preview.deferred:
        return []
    by_policy: dict[str, list[str]] = {}
    for item in preview.deferred:
        name = item.urn.split("::")[-1] if item.urn else "?"
        by_policy.setdefault(f"{item.pack}/{item.policy}", []).append(name)
    listed = "; ".join(f"{_code(policy)} on {_cell(', '.join(names))}" for policy, names in by_policy.items())
    return [
        f"_Not evaluated in preview, because an input is known only after the update: {listed}. "
        "They run again during `pulumi up`._",
        "",
    ]


def _violations(preview: StackPreview) -> list[str]:
    if not preview.policy_events_available:
        return [
            "_Policy violations are not in the `pulumi preview --json` digest: preview with "
            "`mlops ci preview-comment --stack`, or stream the events with "
            "`PULUMI_ENABLE_STREAMING_JSON_PREVIEW=1 pulumi preview --json`, to see them._",
            "",
        ]
    if not preview.violations:
        if preview.policy_packs == {}:
            return [
                "_No policy pack ran in this preview: add `--policy-pack infra/policy` to check the guardrails._",
                "",
            ]
        return []
    lines = [
        f"**Policy violations ({len(preview.violations)})**",
        "",
        "| Level | Policy | Resource | Message |",
        "|---|---|---|---|",
    ]
    for v in preview.violations:
        resource = _code(v.urn.split("::")[-1]) if v.urn else "-"
        lines.append(f"| {_cell(v.level)} | {_code(v.pack + '/' + v.policy)} | {resource} | {_cell(v.message)} |")
    return [*lines, ""]


def _details(preview: StackPreview, max_rows: int | None) -> list[str]:
    lines: list[str] = []
    if preview.changes:
        shown = preview.changes if max_rows is None else preview.changes[:max_rows]
        lines += [
            f"<details><summary>All resource changes ({len(preview.changes)})</summary>",
            "",
            "| Operation | Type | Name | Because of |",
            "|---|---|---|---|",
        ]
        lines += [f"| {c.op} | {_code(c.type)} | {_cell(c.name)} | {_reasons(c)} |" for c in shown]
        if len(shown) < len(preview.changes):
            lines.append(f"| … | {len(preview.changes) - len(shown)} more, in the preview's own output | | |")
        lines += ["", "</details>", ""]
    if preview.program_stderr:
        shown_stderr = preview.program_stderr if max_rows is None else preview.program_stderr[:max_rows]
        lines += [f"<details><summary>Program output on stderr ({len(preview.program_stderr)})</summary>", ""]
        lines += ["```text", *(line[:500] for line in shown_stderr), "```", "", "</details>", ""]
    if preview.warnings:
        shown_warnings = preview.warnings if max_rows is None else preview.warnings[:max_rows]
        lines += [f"<details><summary>Warnings ({len(preview.warnings)})</summary>", ""]
        lines += [f"- {_cell(w)[:500]}" for w in shown_warnings]
        lines += ["", "</details>", ""]
    return lines


def _stack_section(report: StackReport, max_rows: int | None) -> list[str]:
    lines = [f"### {_code(report.stack)}", ""]
    if report.problem:
        lines += [f"❌ {_cell(report.problem)}", ""]
    if report.exit_code not in (None, 0):
        lines += [f"❌ The preview exited with code {report.exit_code}: its log has the details.", ""]
    preview = report.preview
    if preview is None:
        return lines
    mandatory = [v for v in preview.violations if v.level == "mandatory"]
    if mandatory:
        lines += [f"❌ {len(mandatory)} mandatory policy violation(s) block this change.", ""]
    if preview.errors:
        lines += ["**Errors**", "", "```text", *(e[:2000] for e in preview.errors), "```", ""]
    lines += _replaced(preview)
    lines += _violations(preview)
    lines += _deferred(preview)
    for comparison in report.models:
        lines += model_section(comparison)
    if not report.models and not preview.served_model_known and not report.failed:
        lines += [
            "The served model is not in the `pulumi preview --json` digest (it carries no planned stack outputs): "
            "save previews with `mlops ci preview-comment --stack` or `--save-dir` to see it.",
            "",
        ]
    elif not report.models and preview.configured_model_uri and not report.failed:
        lines += [f"The served model does not change (configured: {_code(preview.configured_model_uri)}).", ""]
    if not preview.has_changes() and not preview.errors:
        lines += ["No resource changes.", ""]
    lines += _details(preview, max_rows)
    return lines


def render(reports: list[StackReport], *, commit: str | None = None, max_rows: int | None = None) -> str:
    """The whole comment, shrunk (long lists cut, then sections dropped) to fit GitHub's limit."""
    text = _render(reports, commit, max_rows)
    if len(text) > MAX_CHARS and max_rows is None:
        text = _render(reports, commit, 25)
    if len(text) > MAX_CHARS:
        cut = text[: MAX_CHARS - 200].rsplit("\n", 1)[0]
        text = cut + "\n\n_The comment was cut to fit GitHub's size limit: the preview's own output has the rest._\n"
    return text


def _render(reports: list[StackReport], commit: str | None, max_rows: int | None) -> str:
    heading = f"## Pulumi preview of {len(reports)} stack{'s' if len(reports) != 1 else ''}"
    lines = [MARKER, heading, ""]
    if commit:
        lines += [f"At commit {_code(commit[:12])}.", ""]
    if not reports:
        lines += ["This change touches no stack.", ""]
    else:
        lines += [*_summary_table(reports), ""]
    for report in reports:
        lines += _stack_section(report, max_rows)
    lines.append("<sub>Made by `mlops ci preview-comment`; run it locally to see the same.</sub>")
    return "\n".join(lines).rstrip() + "\n"
