"""Prediction log: requests are queued on the hot path and written in batches by one background thread.

What the logger holds in memory (queued, or being written) is bounded in rows and in estimated bytes, and
`submit` never waits: past either bound the rows are dropped and counted by reason, because a slow sink must
never slow predictions down nor grow the server's memory. Rows still held when the server stops and not
written within the close timeout are counted as dropped too.
"""

from __future__ import annotations

import logging
import queue
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml.serve.sinks import Sink

log = logging.getLogger(__name__)

DROP_REASONS = ("rows_limit", "bytes_limit", "shutdown")
"""Why rows were not logged: the row bound, the byte bound, or the server stopped before they were written."""
# Per row, the prediction, its probability and the log's own columns, as Python objects and list slots.
_ROW_OVERHEAD = 64


@dataclass(frozen=True)
class Entry:
    ts: str
    request_id: str
    rows: int
    columns: dict[str, Any]
    predictions: list[Any]
    proba: list[float] | None
    protocol: str = "mlops"
    # Column -> mask of rows whose category the model never saw (accepted by the data contract).
    unknown: dict[str, Any] = field(default_factory=dict)


def entry_bytes(entry: Entry) -> int:
    """Memory an entry keeps alive, estimated: numeric arrays by their buffers, columns of Python objects
    (strings, nulls) by each object's size and list slot, plus a fixed cost per row."""
    total = entry.rows * _ROW_OVERHEAD
    for values in entry.columns.values():
        if isinstance(values, np.ndarray) and values.dtype != object:
            total += values.nbytes
        else:
            total += 8 * len(values) + sum(map(sys.getsizeof, values))
    return total


def _ignore(reason: str, rows: int) -> None:
    return None


class PredictionLogger:
    def __init__(
        self,
        sink: Sink,
        *,
        model_name: str,
        model_version: str,
        sample: float = 1.0,
        max_rows: int = 100_000,
        max_bytes: int = 64 * 1024 * 1024,
        flush_rows: int = 5_000,
        flush_seconds: float = 2.0,
        on_dropped: Callable[[str, int], None] = _ignore,
        on_written: Callable[[int], None] = lambda n: None,
        on_failed: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.sink = sink
        self.model_name = model_name
        self.model_version = model_version
        self.sample = sample
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        # Unbounded as a queue: the bounds are the rows and bytes held, checked under the lock in submit.
        self._queue: queue.SimpleQueue[tuple[Entry, int] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._held_rows = 0
        self._held_bytes = 0
        self._closing = False
        self._abandoned = False
        self._on_dropped, self._on_written, self._on_failed = on_dropped, on_written, on_failed
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self.dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped.values())

    @property
    def held(self) -> tuple[int, int]:
        """(rows, estimated bytes) queued or being written."""
        with self._lock:
            return self._held_rows, self._held_bytes

    def start(self) -> None:
        self._thread.start()

    def sampled(self) -> bool:
        return self.sample >= 1.0 or random.random() < self.sample

    def submit(self, entry: Entry) -> bool:
        size = entry_bytes(entry)
        with self._lock:
            if self._closing:
                reason = "shutdown"
            elif self._held_rows + entry.rows > self.max_rows:
                reason = "rows_limit"
            elif self._held_bytes + size > self.max_bytes:
                reason = "bytes_limit"
            else:
                self._held_rows += entry.rows
                self._held_bytes += size
                self._queue.put((entry, size))
                return True
            self._drop(reason, entry.rows)
        return False

    def close(self, timeout: float = 10.0) -> None:
        """Write what is held and stop the thread; what is not written within `timeout` is counted as dropped."""
        with self._lock:
            self._closing = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        with self._lock:
            # From here on a write that finishes late is not counted again: its rows are counted as lost now.
            self._abandoned = True
            lost, self._held_rows, self._held_bytes = self._held_rows, 0, 0
            if lost:
                self._drop("shutdown", lost)
        if lost:
            log.warning("prediction log: %d rows were not written within %g s of shutdown and are lost", lost, timeout)

    def _drop(self, reason: str, rows: int) -> None:
        """Count dropped rows; the caller holds the lock."""
        self.dropped[reason] += rows
        self._on_dropped(reason, rows)

    def _run(self) -> None:
        pending: list[tuple[Entry, int]] = []
        rows = 0
        last = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=max(0.05, self.flush_seconds - (time.monotonic() - last)))
            except queue.Empty:
                item = _TICK
            if item is None:
                self._flush(pending)
                return
            if item is not _TICK:
                pending.append(item)
                rows += item[0].rows
            if pending and (rows >= self.flush_rows or time.monotonic() - last >= self.flush_seconds):
                self._flush(pending)
                pending, rows = [], 0
                last = time.monotonic()
            elif not pending:
                last = time.monotonic()

    def _flush(self, held: list[tuple[Entry, int]]) -> None:
        if not held:
            return
        entries = [entry for entry, _ in held]
        size = sum(size for _, size in held)
        table = to_columns(entries, self.model_name, self.model_version)
        n = len(table["_row"])
        try:
            where = self.sink.write(self.model_name, table)
            ok = True
            log.debug("wrote %d prediction rows to %s", n, where)
        except Exception:
            ok = False
            log.exception("prediction log sink failed; %d rows lost", n)
        with self._lock:
            if self._abandoned:
                # Already counted as dropped at shutdown.
                return
            self._held_rows -= n
            self._held_bytes -= size
            (self._on_written if ok else self._on_failed)(n)


_TICK: Any = (Entry("", "", 0, {}, [], None), 0)


def to_columns(entries: list[Entry], model_name: str, model_version: str) -> dict[str, list[Any]]:
    """Flat columns in the prediction-log format of docs/architecture.md."""
    out: dict[str, list[Any]] = {
        "_ts": [],
        "_request_id": [],
        "_row": [],
        "_model_name": [],
        "_model_version": [],
        "_prediction": [],
        "_proba": [],
        "_protocol": [],
        "_unknown_categories": [],
    }
    features: dict[str, list[Any]] = {name: [] for e in entries for name in e.columns}
    for e in entries:
        out["_ts"] += [e.ts] * e.rows
        out["_request_id"] += [e.request_id] * e.rows
        out["_row"] += list(range(e.rows))
        out["_model_name"] += [model_name] * e.rows
        out["_model_version"] += [model_version] * e.rows
        out["_prediction"] += e.predictions
        out["_proba"] += e.proba if e.proba is not None else [None] * e.rows
        out["_protocol"] += [e.protocol] * e.rows
        out["_unknown_categories"] += _unknown_marks(e)
        for name, values in features.items():
            col = e.columns.get(name)
            values += [None] * e.rows if col is None else _plain(col)
    out.update(features)
    return out


def _unknown_marks(entry: Entry) -> list[list[str] | None]:
    """Per row, the columns whose category was unknown, or None."""
    marks: list[list[str] | None] = [None] * entry.rows
    for name, mask in entry.unknown.items():
        for i in np.flatnonzero(mask).tolist():
            marks[i] = [*(marks[i] or []), name]
    return marks


def _plain(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return [None if np.isnat(v) else str(v) for v in values]
    return values.tolist() if isinstance(values, np.ndarray) else list(values)
