"""The prediction logger writes the documented format in batches and never blocks the caller."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from ml.serve.predlog import Entry, PredictionLogger, entry_bytes
from ml.serve.sinks import FileSink, make_sink

LOG_COLUMNS = ["_ts", "_request_id", "_row", "_model_name", "_model_version", "_prediction", "_proba"]


def entry(request_id: str, rows: int = 2) -> Entry:
    return Entry(
        ts="2026-11-26T10:00:00.000000+00:00",
        request_id=request_id,
        rows=rows,
        columns={"age": np.arange(rows, dtype=np.float64), "region": np.array(["north"] * rows, dtype=object)},
        predictions=[1] * rows,
        proba=[0.75] * rows,
    )


def files(root: Path, ext: str) -> list[Path]:
    return sorted(p for p in root.rglob(f"*.{ext}") if not p.name.startswith("."))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_records_land_in_the_documented_layout(tmp_path: Path, fmt: str) -> None:
    logger = PredictionLogger(FileSink(tmp_path, fmt), model_name="m", model_version="3", flush_seconds=60)
    logger.start()
    assert logger.submit(entry("a")) and logger.submit(entry("b", rows=1))
    logger.close()
    [path] = files(tmp_path, fmt)
    assert path.parent.parent.name == "m" and path.parent.name.startswith("date=")
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        rows = pq.read_table(path).to_pylist()
    assert [(r["_request_id"], r["_row"]) for r in rows] == [("a", 0), ("a", 1), ("b", 0)]
    assert all(r["_model_name"] == "m" and r["_model_version"] == "3" for r in rows)
    assert [r["age"] for r in rows] == [0.0, 1.0, 0.0] and rows[0]["region"] == "north"
    assert rows[0]["_prediction"] == 1 and rows[0]["_proba"] == 0.75
    assert set(LOG_COLUMNS) <= set(rows[0])


def test_flushes_on_its_own_after_the_interval(tmp_path: Path) -> None:
    logger = PredictionLogger(FileSink(tmp_path, "jsonl"), model_name="m", model_version="1", flush_seconds=0.2)
    logger.start()
    logger.submit(entry("a"))
    deadline = time.monotonic() + 5
    while not files(tmp_path, "jsonl") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert files(tmp_path, "jsonl"), "nothing flushed within 5 s although flush_seconds is 0.2"
    logger.close()


class SlowSink:
    """A sink stuck on a slow network: each write waits until released (or `wait_s` passes)."""

    def __init__(self, wait_s: float = 10.0) -> None:
        self.release = threading.Event()
        self.wait_s = wait_s
        self.rows = 0

    def write(self, model_name: str, table: dict[str, list[Any]]) -> str:
        self.release.wait(self.wait_s)
        self.rows += len(table["_row"])
        return "slow"


def test_the_rows_held_are_bounded_and_drops_counted_without_blocking() -> None:
    sink = SlowSink()
    dropped: list[tuple[str, int]] = []
    logger = PredictionLogger(
        sink, model_name="m", model_version="1", max_rows=10, flush_rows=1, on_dropped=lambda *d: dropped.append(d)
    )
    logger.start()
    start = time.perf_counter()
    accepted = sum(logger.submit(entry(str(i))) for i in range(100))
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"submit blocked for {elapsed:.2f} s"
    # 2 rows an entry: at most 10 rows held, queued or being written, whatever the number of entries.
    assert accepted == 5 and logger.held[0] == 10
    assert logger.dropped == {"rows_limit": 190, "bytes_limit": 0, "shutdown": 0}
    assert dropped == [("rows_limit", 2)] * 95
    sink.release.set()
    deadline = time.monotonic() + 5
    while logger.held[0] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert logger.held == (0, 0), "written rows must no longer count against the bound"
    assert logger.submit(entry("after"))
    logger.close()
    assert sink.rows == 12 and logger.dropped_rows == 190


def test_the_bytes_held_are_bounded() -> None:
    """Few rows can still be large: 2 rows of 200 KB strings each are about 400 KB held."""
    sink = SlowSink()
    logger = PredictionLogger(sink, model_name="m", model_version="1", max_bytes=2 * 1024 * 1024, flush_rows=1)
    big = Entry(
        ts="2026-11-26T10:00:00.000000+00:00",
        request_id="big",
        rows=2,
        columns={"text": np.array(["x" * 200_000, "y" * 200_000], dtype=object)},
        predictions=[1, 0],
        proba=None,
    )
    assert 400_000 < entry_bytes(big) < 500_000
    logger.start()
    accepted = sum(logger.submit(big) for _ in range(20))
    assert accepted in (4, 5) and logger.held[1] <= 2 * 1024 * 1024
    assert logger.dropped["bytes_limit"] == (20 - accepted) * 2 and logger.dropped["rows_limit"] == 0
    sink.release.set()
    logger.close()
    assert sink.rows == accepted * 2


def test_entry_size_counts_numeric_buffers_and_python_objects() -> None:
    numeric = entry("n", rows=1000)
    assert entry_bytes(numeric) >= 1000 * 8 + 1000 * 8  # the float64 column and the string column's slots
    wide = Entry("t", "w", 1000, {"age": np.zeros((30, 1000))[0]}, [0] * 1000, None)
    assert entry_bytes(wide) >= 8000


def test_rows_not_written_before_shutdown_are_counted_as_dropped() -> None:
    """The sink hangs: close gives up after its timeout and counts what it held, and a write that finishes
    later is not counted as written as well."""
    sink = SlowSink(wait_s=1.0)
    written: list[int] = []
    logger = PredictionLogger(sink, model_name="m", model_version="1", flush_rows=1, on_written=written.append)
    logger.start()
    for i in range(3):
        assert logger.submit(entry(str(i)))
    start = time.perf_counter()
    logger.close(timeout=0.2)
    assert time.perf_counter() - start < 0.5
    assert logger.dropped == {"rows_limit": 0, "bytes_limit": 0, "shutdown": 6}
    assert not logger.submit(entry("late")) and logger.dropped["shutdown"] == 8
    time.sleep(1.2)  # the stuck write returns
    assert written == [] and logger.dropped_rows == 8


def test_dropped_rows_are_in_metrics_by_reason() -> None:
    from ml.serve.metrics import build_metrics

    metrics = build_metrics("m", "1", "champion")
    metrics.log_dropped_rows("shutdown", 6)
    text = metrics.render().decode()
    assert 'mlops_prediction_log_dropped_rows_total{reason="shutdown"} 6.0' in text
    assert 'mlops_prediction_log_dropped_rows_total{reason="rows_limit"} 0.0' in text
    assert 'mlops_prediction_log_dropped_rows_total{reason="bytes_limit"} 0.0' in text


def test_a_failing_sink_counts_lost_rows_and_keeps_running(tmp_path: Path) -> None:
    class Broken:
        def write(self, model_name: str, table: dict[str, list[Any]]) -> str:
            raise OSError("disk full")

    failed: list[int] = []
    logger = PredictionLogger(Broken(), model_name="m", model_version="1", flush_rows=1, on_failed=failed.append)
    logger.start()
    logger.submit(entry("a"))
    logger.submit(entry("b"))
    logger.close()
    assert sum(failed) == 4


def test_sampling_fraction_is_respected() -> None:
    logger = PredictionLogger(FileSink(Path("/nonexistent"), "jsonl"), model_name="m", model_version="1", sample=0.2)
    hits = sum(logger.sampled() for _ in range(5000))
    assert 700 < hits < 1300


@pytest.mark.parametrize(
    ("uri", "fmt", "message"),
    [
        ("file:///tmp/x", "csv", "jsonl, parquet"),
        ("http://example.invalid/x", "jsonl", "file:///absolute/path or s3://bucket/prefix"),
        ("s3://", "jsonl", "s3://bucket/prefix"),
    ],
)
def test_bad_sink_settings_say_what_to_use(uri: str, fmt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("/", ".")):
        make_sink(uri, fmt)
