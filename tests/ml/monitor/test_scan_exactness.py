"""The fast scan (cache-sized blocks, grid binning, columns folded on a thread pool, row groups read ahead)
gives exactly what a plain computation gives: per batch and per block of ``BLOCK_VALUES`` values, the
finite values' ``searchsorted`` bins, sums, sums of squares, range and schema violations, in order.

The data has nulls, NaN, infinities, values on the edges and far outside them, a skewed column whose
quantile edges crowd the grid, a column of ties, and integer and string categories with nulls.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from ml.monitor import drift, logsource
from ml.monitor.accumulate import BLOCK_VALUES, CategoricalAccumulator, NumericAccumulator
from ml.profile import build_reference_profile

SPEC = {"columns": {"a": {"type": "float", "min": -2.5, "max": 2.5}, "k": {"type": "category"}}}
NUMERIC = ["a", "b", "c"]
BATCH_ROWS = [70_000, 5_000, 40_000, BLOCK_VALUES, 1_000, 100_003]


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    n = 20_000
    reference = pd.DataFrame(
        {
            "a": rng.normal(0, 1, n),
            "b": rng.lognormal(0, 3, n),
            "c": rng.integers(0, 6, n).astype("float64"),
            "k": rng.integers(0, 3, n),
            "s": rng.choice(["x", "y", "z"], n),
        }
    )
    return build_reference_profile(reference, rng.integers(0, 2, n), spec=SPEC)


def _with_specials(values: np.ndarray, edges: np.ndarray, rng: np.random.Generator, far: bool) -> np.ndarray:
    """Values with NaN, infinities, exact edges and their neighbours mixed in, and with ``far`` values so far
    beyond the edges that they outweigh every other value in the sums (so only one column gets them)."""
    odd = [np.nan, np.inf, -np.inf, 0.0, -0.0, *([1e150, -1e150] if far else [])]
    specials = np.concatenate([odd, edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)])
    at = rng.choice(values.size, size=min(values.size, 3 * specials.size), replace=False)
    values[at] = rng.choice(specials, size=at.size)
    return values


def _batch(rows: int, seed: int, profile: dict[str, Any], *, empty_a: bool = False) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    edges = {name: np.asarray(profile["features"][name]["edges"]) for name in NUMERIC}
    draws = {
        "a": rng.normal(0.3, 1.5, rows),
        "b": rng.lognormal(0.5, 3, rows),
        "c": rng.integers(-1, 8, rows).astype("float64"),
    }
    columns: dict[str, pa.Array] = {}
    for name, values in draws.items():
        values = _with_specials(values, edges[name], rng, far=name == "a")
        nulls = rng.random(rows) < (1.0 if empty_a and name == "a" else 0.05)
        columns[name] = pa.array(values, mask=nulls)
    columns["k"] = pa.array(rng.integers(0, 5, rows), mask=rng.random(rows) < 0.1)
    columns["s"] = pa.array(rng.choice(["x", "y", "z", "new"], rows), mask=rng.random(rows) < 0.1)
    columns["_prediction"] = pa.array(rng.integers(0, 2, rows))
    return pa.RecordBatch.from_pydict(columns)


@pytest.fixture(scope="module")
def batches(profile: dict[str, Any]) -> list[pa.RecordBatch]:
    made = [_batch(rows, seed, profile) for seed, rows in enumerate(BATCH_ROWS)]
    return [*made, _batch(2_000, 99, profile, empty_a=True)]


def _reference_numeric(columns: list[pa.Array], profile_column: dict[str, Any]) -> dict[str, Any]:
    edges = np.asarray(profile_column["edges"], dtype="float64")
    schema = profile_column.get("schema", {})
    out: dict[str, Any] = {"counts": np.zeros(edges.size + 1, dtype=np.int64), "total": 0.0, "total_sq": 0.0}
    out.update(rows=0, nulls=0, minimum=np.inf, maximum=-np.inf, below=0, above=0)
    for column in columns:
        x = column.to_numpy(zero_copy_only=False).astype("float64")
        out["rows"] += x.size
        for start in range(0, x.size, BLOCK_VALUES):
            block = x[start : start + BLOCK_VALUES]
            finite = block[np.isfinite(block)]
            out["nulls"] += block.size - finite.size
            if finite.size == 0:
                continue
            out["counts"] += np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
            out["total"] += float(finite.sum())
            out["total_sq"] += float((finite * finite).sum())
            out["minimum"] = min(out["minimum"], float(finite.min()))
            out["maximum"] = max(out["maximum"], float(finite.max()))
            if "min" in schema:
                out["below"] += int((finite < schema["min"]).sum())
            if "max" in schema:
                out["above"] += int((finite > schema["max"]).sum())
    return out


def _assert_numeric_equal(acc: NumericAccumulator, ref: dict[str, Any]) -> None:
    assert acc.counts.tolist() == ref["counts"].tolist()
    assert (acc.rows, acc.nulls, acc.invalid) == (ref["rows"], ref["nulls"], 0)
    assert (acc.total, acc.total_sq) == (ref["total"], ref["total_sq"])
    assert (acc.minimum, acc.maximum) == (ref["minimum"], ref["maximum"])
    assert (acc.below_schema, acc.above_schema) == (ref["below"], ref["above"])


def _reference_categories(columns: list[pa.Array]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for column in columns:
        counted = pc.value_counts(pc.drop_null(pc.cast(column, pa.string())))
        seen.update(dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)))
    return seen


def _assert_scan_matches(state: drift.Scan, used: list[pa.RecordBatch], profile: dict[str, Any]) -> None:
    for name in NUMERIC:
        acc = state.accumulators[name]
        assert isinstance(acc, NumericAccumulator)
        _assert_numeric_equal(acc, _reference_numeric([b.column(name) for b in used], profile["features"][name]))
    for name in ("k", "s", "_prediction"):
        acc = state.accumulators[name]
        assert isinstance(acc, CategoricalAccumulator)
        assert acc.seen == _reference_categories([b.column(name) for b in used])
        assert acc.nulls == sum(b.column(name).null_count for b in used)
    assert state.rows == sum(b.num_rows for b in used)


def test_the_data_reaches_every_path(profile: dict[str, Any], batches: list[pa.RecordBatch]) -> None:
    assert any(b.num_rows >= drift.PARALLEL_MIN_ROWS for b in batches)
    assert any(b.num_rows < drift.PARALLEL_MIN_ROWS for b in batches)
    assert any(b.num_rows > BLOCK_VALUES and b.num_rows % BLOCK_VALUES for b in batches)
    binner = NumericAccumulator(np.asarray(profile["features"]["b"]["edges"])).binner
    assert binner.crowded is not None or len(binner.candidates) == 2, "no crowded grid cell: b tests nothing"


def test_scan_equals_the_plain_computation(profile: dict[str, Any], batches: list[pa.RecordBatch]) -> None:
    _assert_scan_matches(drift.scan(batches, profile), batches, profile)


def test_blocked_bins_and_moments_agree_with_the_whole_data(
    profile: dict[str, Any], batches: list[pa.RecordBatch]
) -> None:
    """Blocks change nothing but the order of the float sums: bins are those of one searchsorted over all
    values, and the sums are within rounding of the exactly rounded sums."""
    state = drift.scan(batches, profile)
    for name in NUMERIC:
        acc = state.accumulators[name]
        assert isinstance(acc, NumericAccumulator)
        x = np.concatenate([b.column(name).to_numpy(zero_copy_only=False) for b in batches]).astype("float64")
        finite = x[np.isfinite(x)]
        expected = np.bincount(np.searchsorted(acc.edges, finite, side="right"), minlength=acc.counts.size)
        assert acc.counts.tolist() == expected.tolist()
        # Within rounding: a float sum errs by at most (about) its length times eps times the sum of |x|.
        assert abs(acc.total - math.fsum(finite)) <= 1e-12 * math.fsum(np.abs(finite))
        assert acc.total_sq == pytest.approx(math.fsum(finite * finite), rel=1e-12)


def test_read_ahead_log_scan_equals_the_plain_computation(
    tmp_path: Path, profile: dict[str, Any], batches: list[pa.RecordBatch]
) -> None:
    """Row groups read ahead on a thread of their own and folded in parallel, from a real parquet log."""
    table = pa.Table.from_batches(batches)
    folder = tmp_path / "m" / "date=2026-11-26"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "12-log.parquet", row_group_size=60_000)
    window = logsource.Window()
    fs, files = logsource.list_files(str(tmp_path), "m", window)
    read = list(logsource.iter_batches(fs, files, [*NUMERIC, "k", "s", "_prediction"], NUMERIC, window))
    assert [b.num_rows for b in read] == [min(60_000, table.num_rows - s) for s in range(0, table.num_rows, 60_000)]
    state = drift.scan(iter(read), profile)
    used = table.combine_chunks().to_batches(max_chunksize=60_000)
    _assert_scan_matches(state, used, profile)


def _write_files(root: Path, table: pa.Table, rows_per_file: int) -> None:
    """The server's layout: one small file per flush, over two days."""
    for number, start in enumerate(range(0, table.num_rows, rows_per_file)):
        folder = root / "m" / f"date=2026-11-2{5 + number % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(start, rows_per_file), folder / f"{number // 2:02d}-flush.parquet")


def test_read_ahead_crosses_files_in_order(
    tmp_path: Path, profile: dict[str, Any], batches: list[pa.RecordBatch]
) -> None:
    table = pa.Table.from_batches(batches)
    _write_files(tmp_path, table, 40_000)
    window = logsource.Window()
    fs, files = logsource.list_files(str(tmp_path), "m", window)
    assert len(files) > 2
    read = list(logsource.iter_batches(fs, files, [*NUMERIC, "k", "s", "_prediction"], NUMERIC, window))
    got = pa.Table.from_batches(read)
    expected = pa.concat_tables(pq.read_table(path) for path in files).select(got.schema.names)
    for name in got.schema.names:  # row for row, NaN and null where they were
        assert got.column(name).is_null().equals(expected.column(name).is_null())
        values = [c.to_numpy(zero_copy_only=False) for c in (got.column(name), expected.column(name))]
        assert np.array_equal(*values, equal_nan=not pa.types.is_string(got.column(name).type))
    state = drift.scan(iter(read), profile)
    _assert_scan_matches(state, read, profile)


def test_a_reader_left_early_stops_reading(tmp_path: Path, batches: list[pa.RecordBatch]) -> None:
    """A caller that stops after one batch (a failed fold) leaves no reading thread behind."""
    _write_files(tmp_path, pa.Table.from_batches(batches), 40_000)
    window = logsource.Window()
    fs, files = logsource.list_files(str(tmp_path), "m", window)
    before = {t.ident for t in threading.enumerate()}
    reader = logsource.iter_batches(fs, files, NUMERIC, NUMERIC, window)
    assert next(iter(reader)).num_rows == 40_000
    assert any(t.name.startswith("log-read") for t in threading.enumerate())
    reader.close()
    assert {t.ident for t in threading.enumerate() if t.name.startswith("log-read")} <= before


def _scan_counts(profile: dict[str, Any], batches: list[pa.RecordBatch]) -> list[list[int]]:
    state = drift.scan(batches, profile)
    return [state.accumulators[name].counts.tolist() for name in NUMERIC]  # type: ignore[union-attr]


def _scan_in_child(profile: dict[str, Any], batches: list[pa.RecordBatch], out: Any) -> None:
    out.put(_scan_counts(profile, batches))


def test_a_forked_child_scans_on_threads_of_its_own(profile: dict[str, Any], batches: list[pa.RecordBatch]) -> None:
    """A process forked after a parallel scan (a worker of a forking server) inherits the pool but not its
    threads; its scan must not wait for them forever."""
    import multiprocessing

    counts = _scan_counts(profile, batches)
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_scan_in_child, args=(profile, batches[:1], out))
    child.start()
    try:
        assert out.get(timeout=30) == _scan_counts(profile, batches[:1])
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert counts == _scan_counts(profile, batches)
