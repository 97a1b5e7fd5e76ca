"""Reports a person reads: a self-contained HTML page with plots of the drifted columns, and a terminal table."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

MAX_PLOTS = 12


def _plot_png(column: dict[str, Any]) -> str:
    """Reference vs current distribution of one column, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    bins = column["bins"]
    ref = np.asarray(bins["reference"], dtype="float64")
    cur = np.asarray(bins["current"], dtype="float64")
    ref, cur = ref / max(ref.sum(), 1), cur / max(cur.sum(), 1)
    fig, ax = plt.subplots(figsize=(6, 2.8), dpi=90)
    try:
        if column["kind"] == "numeric":
            edges = np.asarray(bins["edges"], dtype="float64")
            labels = np.arange(ref.size)
            ax.step(labels, ref, where="mid", label="reference")
            ax.step(labels, cur, where="mid", label="current")
            ticks = np.linspace(0, max(edges.size - 1, 0), num=min(6, edges.size), dtype=int)
            ax.set_xticks(ticks + 0.5 if edges.size else [])
            ax.set_xticklabels([f"{edges[t]:.3g}" for t in ticks] if edges.size else [])
            ax.set_ylabel("share per quantile bin")
        else:
            names = [*[c for c in bins["categories"] if c != "__other__"], "other/unseen"][:30]
            x = np.arange(len(names))
            ax.bar(x - 0.2, ref[: len(names)], width=0.4, label="reference")
            ax.bar(x + 0.2, cur[: len(names)], width=0.4, label="current")
            ax.set_xticks(x)
            ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
            ax.set_ylabel("share")
        ax.set_title(f"{column['name']} (PSI {column['psi']:.3f})", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"
    return html.escape(str(value))


def render_html(result: dict[str, Any]) -> str:
    """The whole report as one HTML document (plots embedded, no external assets)."""
    esc = html.escape
    drifted = [c for c in result["columns"] if c["drifted"]][:MAX_PLOTS]
    rows = "".join(
        f"<tr class='{'bad' if c['drifted'] or c['quality_issues'] else ''}'><td>{esc(c['name'])}</td>"
        f"<td>{c['role']}</td><td>{c['kind']}</td><td>{_fmt(c['psi'])}</td><td>{_fmt(c['ks_statistic'])}</td>"
        f"<td>{_fmt(c['jensen_shannon'])}</td><td>{_fmt(c['p_value'])}</td><td>{_fmt(c['null_rate'])}</td>"
        f"<td>{'yes' if c['drifted'] else 'no'}</td><td>{esc('; '.join(c['quality_issues']))}</td></tr>"
        for c in result["columns"]
    )
    metrics = "".join(
        f"<tr class='{'bad' if m['decayed'] else ''}'><td>{esc(name)}</td><td>{_fmt(m['live'])}</td>"
        f"<td>{_fmt(m['registered'])}</td><td>{'yes' if m['decayed'] else 'no'}</td></tr>"
        for name, m in result["quality"]["metrics"].items()
    )
    plots = "".join(f"<img alt='{esc(c['name'])}' src='data:image/png;base64,{_plot_png(c)}'>" for c in drifted)
    issues = "".join(f"<li>{esc(i)}</li>" for i in result["data_quality_issues"]) or "<li>none</li>"
    window = result["window"]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Monitoring: {esc(result["model"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}
tr.bad{{background:#fdd}}img{{margin:4px}}</style></head><body>
<h1>Monitoring report: {esc(result["model"])} version {esc(str(result["model_version"] or "-"))}</h1>
<p>Status <b>{esc(result["status"])}</b> (exit code {result["exit_code"]}); {result["rows"]} rows from
{esc(str(window["start"] or "the start of the log"))} to {esc(str(window["end"] or "now"))};
generated {esc(result["generated_at"])}. Retrain: {esc(result["retrain"]["reason"])}.</p>
<h2>Drifted columns</h2><p>{esc(", ".join(c["name"] for c in drifted)) or "none"}</p>{plots}
<h2>Data quality</h2><ul>{issues}</ul>
<h2>Live model quality ({result["quality"]["labelled_rows"]} labelled rows)</h2>
<table><tr><th>metric</th><th>live</th><th>registered</th><th>decayed</th></tr>{metrics}</table>
<h2>All columns</h2>
<table><tr><th>column</th><th>role</th><th>kind</th><th>PSI</th><th>KS</th><th>JS</th><th>p-value</th>
<th>null rate</th><th>drifted</th><th>quality</th></tr>{rows}</table>
</body></html>
"""


def summary_table(result: dict[str, Any], limit: int = 25) -> Any:
    """A rich table of the columns, drifted and problematic first."""
    from rich.table import Table

    table = Table(
        title=f"{result['model']} v{result['model_version'] or '-'}: {result['rows']} rows, status {result['status']}"
    )
    for header in ("column", "role", "PSI", "KS / JS", "p-value", "null rate", "drift", "quality"):
        table.add_column(header, justify="left" if header in ("column", "quality") else "right")
    for c in result["columns"][:limit]:
        second = c["ks_statistic"] if c["kind"] == "numeric" else c["jensen_shannon"]
        style = "red" if c["drifted"] or c["quality_issues"] else None
        table.add_row(
            c["name"],
            c["role"],
            _fmt(c["psi"]),
            _fmt(second),
            _fmt(c["p_value"]),
            _fmt(c["null_rate"]),
            "DRIFT" if c["drifted"] else "ok",
            "; ".join(c["quality_issues"]),
            style=style,
        )
    return table
