"""Prediction log: requests are queued on the hot path and written in batches by one background thread.

The queue is bounded and `submit` never waits: when it is full, the rows are dropped and counted, because a
slow sink must never slow predictions down.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml.serve.sinks import Sink

log = logging.getLogger(__name__)


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


class PredictionLogger:
    def __init__(
        self,
        sink: Sink,
        *,
        model_name: str,
        model_version: str,
        sample: float = 1.0,
        queue_size: int = 10_000,
        flush_rows: int = 5_000,
        flush_seconds: float = 2.0,
        on_dropped: Callable[[int], None] = lambda n: None,
        on_written: Callable[[int], None] = lambda n: None,
        on_failed: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.sink = sink
        self.model_name = model_name
        self.model_version = model_version
        self.sample = sample
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._queue: queue.Queue[Entry | None] = queue.Queue(maxsize=queue_size)
        self._on_dropped, self._on_written, self._on_failed = on_dropped, on_written, on_failed
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self.dropped_rows = 0

    def start(self) -> None:
        self._thread.start()

    def sampled(self) -> bool:
        return self.sample >= 1.0 or random.random() < self.sample

    def submit(self, entry: Entry) -> bool:
        try:
            self._queue.put_nowait(entry)
            return True
        except queue.Full:
            self.dropped_rows += entry.rows
            self._on_dropped(entry.rows)
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop the thread."""
        if not self._thread.is_alive():
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        pending: list[Entry] = []
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
                rows += item.rows
            if pending and (rows >= self.flush_rows or time.monotonic() - last >= self.flush_seconds):
                self._flush(pending)
                pending, rows = [], 0
                last = time.monotonic()
            elif not pending:
                last = time.monotonic()

    def _flush(self, entries: list[Entry]) -> None:
        if not entries:
            return
        table = to_columns(entries, self.model_name, self.model_version)
        n = len(table["_row"])
        try:
            where = self.sink.write(self.model_name, table)
            self._on_written(n)
            log.debug("wrote %d prediction rows to %s", n, where)
        except Exception:
            self._on_failed(n)
            log.exception("prediction log sink failed; %d rows lost", n)


_TICK: Any = Entry("", "", 0, {}, [], None)


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
