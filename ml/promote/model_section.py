"""The model section of a stack: old -> new reference, metrics side by side, gate results."""

from __future__ import annotations

from ml.markdown import cell as _cell
from ml.markdown import code as _code
from ml.promote.model_change import Gate, ModelComparison, Side


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _version_label(side: Side, fallback: str) -> str:
    if side.uri is None:
        return "none"
    return f"v{side.facts.version}" if side.facts else fallback


def _gate_mark(gate: Gate | None) -> str:
    if gate is None:
        return "-"
    mark = {True: "✅", False: "❌", None: "❔"}[gate.passed]
    return f"{mark} {_cell(gate.detail)}".strip()


def model_section(comparison: ModelComparison) -> list[str]:
    change = comparison.change
    where = f" ({_cell(', '.join(change.resources))})" if change.resources else ""
    lines = [
        f"**Model change** in {_cell(change.source)}{where}: "
        f"{_code(change.old) if change.old else '_none_'} → {_code(change.new) if change.new else '_none_'}",
        "",
    ]
    if comparison.unavailable:
        return [*lines, f"_Versions not compared: {_cell(comparison.unavailable)}._", ""]
    old, new = comparison.old, comparison.new
    problems = [f"{_code(s.uri)}: {_cell(s.problem)}" for s in (old, new) if s.problem]
    lines += [f"- ⚠️ {p}" for p in problems]
    if problems:
        lines.append("")
    if not (old.facts or new.facts):
        return lines
    old_label, new_label = _version_label(old, "old"), _version_label(new, "new")
    lines += [
        f"Tracking server: {_code(comparison.tracking_uri)}",
        "",
        f"| Metric | {old_label} (old) | {new_label} (new) | Δ |",
        "|---|---:|---:|---:|",
    ]
    for name in comparison.metric_names():
        a = old.facts.metrics.get(name) if old.facts else None
        b = new.facts.metrics.get(name) if new.facts else None
        delta = f"{b - a:+.4f}" if a is not None and b is not None else "-"
        lines.append(f"| {_code(name)} | {_fmt(a)} | {_fmt(b)} | {delta} |")
    lines.append("")
    lines += _gates_table(old, new, old_label, new_label)
    return lines


def _gates_table(old: Side, new: Side, old_label: str, new_label: str) -> list[str]:
    def by_name(side: Side) -> dict[str, Gate]:
        if not side.facts:
            return {}
        gates = {g.name: g for g in side.facts.gates}
        gates.update({f"promotion:{g.name}": g for g in side.facts.promotion_gates})
        if side.facts.gates_passed is not None:
            gates.setdefault("all training gates", Gate("all training gates", side.facts.gates_passed))
        return gates

    old_gates, new_gates = by_name(old), by_name(new)
    names = list(dict.fromkeys([*new_gates, *old_gates]))
    if not names:
        return ["_No gate results are recorded on these versions (tags `gates`, `gates.passed`)._", ""]
    lines = [f"| Gate | {old_label} (old) | {new_label} (new) |", "|---|---|---|"]
    lines += [f"| {_code(n)} | {_gate_mark(old_gates.get(n))} | {_gate_mark(new_gates.get(n))} |" for n in names]
    return [*lines, ""]
