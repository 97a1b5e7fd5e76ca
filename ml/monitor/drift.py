"""Compare a window of logged predictions with the reference profile: drift and data quality per column."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from ml.monitor import stats
from ml.monitor.accumulate import (
    CategoricalAccumulator,
    NumericAccumulator,
    accumulator_for,
    reference_counts,
)
from ml.monitor.thresholds import Thresholds

log = logging.getLogger(__name__)

Accumulator = NumericAccumulator | CategoricalAccumulator


@dataclass
class ColumnResult:
    name: str
    role: str
    kind: str
    rows: int
    psi: float | None = None
    ks_statistic: float | None = None
    chi2_statistic: float | None = None
    jensen_shannon: float | None = None
    p_value: float | None = None
    drifted: bool = False
    null_rate: float = 0.0
    reference_null_rate: float = 0.0
    out_of_schema_rate: float = 0.0
    quality_issues: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    bins: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scan:
    """Accumulators for every profiled column, fed batch by batch."""

    profile: dict[str, Any]
    accumulators: dict[str, Accumulator] = field(init=False)
    roles: dict[str, str] = field(init=False)
    rows: int = 0
    seen_columns: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.accumulators, self.roles = {}, {}
        for role, section in (("feature", "features"), ("prediction", "predictions")):
            for name, column in self.profile.get(section, {}).items():
                self.accumulators[name] = accumulator_for(column)
                self.roles[name] = role

    @property
    def numeric_columns(self) -> list[str]:
        return [n for n, a in self.accumulators.items() if isinstance(a, NumericAccumulator)]

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.rows += batch.num_rows
        names = set(batch.schema.names)
        present = [(acc, batch.column(name)) for name, acc in self.accumulators.items() if name in names]
        self.seen_columns.update(name for name in self.accumulators if name in names)
        if batch.num_rows < PARALLEL_MIN_ROWS or len(present) < 2:
            for acc, column in present:
                acc.update(column)
            return
        # Each column has an accumulator of its own, fed its batches in order, so the columns of one batch
        # fold on all cores at once (NumPy and Arrow release the GIL) with results that do not depend on
        # which thread ran them; the batch is done, or has failed, before the next one starts.
        pool = _pool(os.getpid())
        futures = [pool.submit(acc.update, column) for acc, column in present]
        wait(futures)
        for future in futures:
            future.result()


PARALLEL_MIN_ROWS = 32_768
"""Smaller batches fold on the calling thread: handing them over would cost more than it saves."""


@functools.cache
def _pool(pid: int) -> ThreadPoolExecutor:
    """The scan's threads, per process: a forked child inherits the pool but none of its threads."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return ThreadPoolExecutor(max_workers=min(8, cores), thread_name_prefix="drift-scan")


def scan(batches: Iterable[pa.RecordBatch | pa.Table], profile: dict[str, Any]) -> Scan:
    state = Scan(profile)
    for batch in batches:
        state.update(batch)
    return state


def _column_result(
    name: str, role: str, ref: dict[str, Any], acc: Accumulator, alpha: float, t: Thresholds
) -> ColumnResult:
    ref_counts = reference_counts(ref)
    result = ColumnResult(
        name=name,
        role=role,
        kind=ref["kind"],
        rows=acc.rows,
        reference_null_rate=float(ref.get("null_rate", 0.0)),
        summary=acc.summary(),
    )
    if isinstance(acc, NumericAccumulator):
        cur = acc.counts
        result.psi = stats.psi_numeric(ref_counts, cur)
        ks = stats.ks_binned(ref_counts, cur)
        result.ks_statistic, result.p_value = ks.statistic, ks.p_value
        result.bins = {"edges": ref["edges"], "reference": ref_counts.tolist(), "current": cur.tolist()}
    else:
        cur = acc.aligned_counts()
        result.psi = stats.psi(ref_counts, cur)
        chi = stats.chi_squared(ref_counts, cur)
        result.chi2_statistic, result.p_value = chi.statistic, chi.p_value
        result.jensen_shannon = stats.jensen_shannon(ref_counts, cur)
        result.bins = {"categories": list(ref["counts"]), "reference": ref_counts.tolist(), "current": cur.tolist()}
    if acc.count and acc.rows >= t.min_rows:
        result.drifted = result.psi > t.psi_threshold or (result.p_value is not None and result.p_value < alpha)
    if acc.rows:
        result.null_rate = acc.nulls / acc.rows
        bad = acc.summary()["out_of_schema"]
        result.out_of_schema_rate = bad / acc.rows
        if result.null_rate - result.reference_null_rate > t.null_rate_increase:
            result.quality_issues.append(
                f"null rate {result.null_rate:.1%} vs {result.reference_null_rate:.1%} in the reference"
            )
        if result.out_of_schema_rate > t.out_of_schema_rate:
            result.quality_issues.append(f"{result.out_of_schema_rate:.1%} of values outside the dataset spec")
    return result


@dataclass
class DriftResult:
    rows: int
    columns: list[ColumnResult]
    missing_columns: list[str]
    alpha: float
    judged: bool

    @property
    def drifted_features(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted and c.role == "feature"]

    @property
    def prediction_drift(self) -> bool:
        return any(c.drifted for c in self.columns if c.role == "prediction")

    @property
    def drift(self) -> bool:
        return self.judged and (bool(self.drifted_features) or self.prediction_drift)

    @property
    def data_quality_issues(self) -> list[str]:
        issues = [f"column {name!r} missing from the prediction log" for name in self.missing_columns]
        issues += [f"{c.name}: {issue}" for c in self.columns for issue in c.quality_issues]
        return issues if self.judged else []

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "judged": self.judged,
            "alpha_per_test": self.alpha,
            "drift": self.drift,
            "drifted_features": self.drifted_features,
            "prediction_drift": self.prediction_drift,
            "missing_columns": self.missing_columns,
            "data_quality_issues": self.data_quality_issues,
            "columns": [asdict(c) for c in self.columns],
        }


def evaluate(state: Scan, thresholds: Thresholds) -> DriftResult:
    """Drift tests per column, with a Bonferroni split of the significance across all tested columns."""
    profile = state.profile
    refs = {**profile.get("features", {}), **profile.get("predictions", {})}
    tested = [n for n in state.accumulators if n in state.seen_columns]
    alpha = thresholds.p_value / max(1, len(tested))
    columns = [_column_result(n, state.roles[n], refs[n], state.accumulators[n], alpha, thresholds) for n in tested]
    missing = [n for n in profile.get("features", {}) if n not in state.seen_columns]
    judged = state.rows >= thresholds.min_rows
    if not judged:
        log.warning(
            "only %d rows in the window (minRows %d): reporting without judging drift", state.rows, thresholds.min_rows
        )
    columns.sort(key=lambda c: (c.role != "prediction", not c.drifted, -(c.psi or 0.0)))
    return DriftResult(rows=state.rows, columns=columns, missing_columns=missing, alpha=alpha, judged=judged)


def table_batches(table: pa.Table, rows: int = 262_144) -> Iterable[pa.RecordBatch]:
    """An in-memory table as batches, for callers that already hold the data."""
    return table.to_batches(max_chunksize=rows)
