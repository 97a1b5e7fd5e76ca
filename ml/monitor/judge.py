"""Judge one monitoring window: stream it once, then judge drift, data quality and live model quality."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ml.monitor import drift, logsource
from ml.monitor.quality import LOG_COLUMNS, LabelJoin, compare, live_metrics
from ml.monitor.thresholds import ExitCode, Thresholds, exit_code, should_retrain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitorRequest:
    profile: dict[str, Any]
    model: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    window: logsource.Window = field(default_factory=logsource.Window)
    model_version: str | None = None
    task: str | None = None
    labels: pa.Table | None = None
    registered_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class MonitorOutcome:
    request: MonitorRequest
    drift: drift.DriftResult
    quality: dict[str, Any]
    labelled_rows: int
    seconds: float

    @property
    def quality_decay(self) -> bool:
        return self.drift.judged and any(m["decayed"] for m in self.quality.values())

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(
            drift=self.drift.drift, data_quality=bool(self.drift.data_quality_issues), quality_decay=self.quality_decay
        )

    @property
    def retrain(self) -> tuple[bool, str]:
        return should_retrain(self.request.thresholds, drift=self.drift.drift, quality_decay=self.quality_decay)

    def to_dict(self) -> dict[str, Any]:
        req = self.request
        retrain, reason = self.retrain
        return {
            "model": req.model,
            "model_version": req.model_version,
            "task": req.task,
            "window": {
                "start": req.window.start.isoformat() if req.window.start else None,
                "end": req.window.end.isoformat() if req.window.end else None,
            },
            "generated_at": datetime.now(UTC).isoformat(),
            "seconds": round(self.seconds, 3),
            "status": self.exit_code.name.lower(),
            "exit_code": int(self.exit_code),
            "thresholds": req.thresholds.model_dump(),
            "retrain": {"recommended": retrain, "reason": reason},
            "quality": {"labelled_rows": self.labelled_rows, "metrics": self.quality, "decay": self.quality_decay},
            **self.drift.to_dict(),
        }


def infer_task(profile: dict[str, Any]) -> str:
    pred = profile.get("predictions", {}).get("_prediction")
    if pred is None or pred["kind"] == "numeric":
        return "regression"
    return "binary" if len(pred["counts"]) <= 2 else "multiclass"


def monitor_batches(request: MonitorRequest, batches: Iterable[pa.RecordBatch | pa.Table]) -> MonitorOutcome:
    """Judge a stream of log batches (already restricted to the window) against the reference."""
    started = time.perf_counter()
    state = drift.Scan(request.profile)
    join = LabelJoin(request.labels) if request.labels is not None else None
    for batch in batches:
        state.update(batch)
        if join is not None:
            join.update(batch)
    if state.rows == 0:
        raise LookupError(
            f"no predictions of model {request.model!r} in the window: widen --window/--since, "
            "or check that the server logs predictions (MLOPS_PREDICTION_LOG)"
        )
    result = drift.evaluate(state, request.thresholds)
    quality: dict[str, Any] = {}
    labelled = 0
    joined = join.table() if join is not None else None
    if joined is not None and joined.num_rows:
        labelled = joined.num_rows
        live = live_metrics(joined, request.task or infer_task(request.profile))
        quality = compare(live, request.registered_metrics, request.thresholds.quality_tolerance)
    elif join is not None:
        log.warning("no logged prediction in the window matches a label (by request_id and row)")
    return MonitorOutcome(request, result, quality, labelled, time.perf_counter() - started)


def monitor_log(request: MonitorRequest, log_uri: str) -> MonitorOutcome:
    """Read the model's prediction log under ``log_uri`` for the request's window and judge it."""
    fs, files = logsource.list_files(log_uri, request.model, request.window)
    if not files:
        raise LookupError(f"no prediction log files for {request.model!r} under {log_uri} in the window")
    log.info("reading %d prediction log file(s) of %s", len(files), request.model)
    scan_columns = [*request.profile.get("features", {}), *request.profile.get("predictions", {})]
    numeric = [
        name
        for name, col in {**request.profile.get("features", {}), **request.profile.get("predictions", {})}.items()
        if col["kind"] == "numeric"
    ]
    columns = list(dict.fromkeys([*scan_columns, *LOG_COLUMNS]))
    return monitor_batches(request, logsource.iter_batches(fs, files, columns, numeric, request.window))
