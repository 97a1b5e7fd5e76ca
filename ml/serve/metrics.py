"""Prometheus metrics of one server, per app instance (no module-level registry).

With several workers, prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by the runner
before workers start) lets /metrics of any worker report the sum over all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ml.serve.predlog import DROP_REASONS

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metrics:
    registry: Any
    requests: Any
    latency: Any
    errors: Any
    rows: Any
    model_info: Any
    log_dropped: Any
    log_written: Any
    log_failed: Any
    unknown_categories: Any
    model_name: str
    model_version: str
    # labels() takes a lock and builds a key on every call; the children are cached per label values.
    _children: dict[tuple[str, str, int], tuple[Any, Any]] = field(default_factory=dict)

    def request(self, endpoint: str, protocol: str, status: int, seconds: float) -> None:
        children = self._children.get((endpoint, protocol, status))
        if children is None:
            children = (
                self.requests.labels(endpoint, str(status), protocol, self.model_name, self.model_version),
                self.latency.labels(endpoint, protocol, self.model_version),
            )
            self._children[(endpoint, protocol, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def error(self, kind: str, protocol: str) -> None:
        self.errors.labels(kind, protocol, self.model_version).inc()

    def predicted(self, rows: int, protocol: str) -> None:
        child = self._children.get(("rows", protocol, 0))
        if child is None:
            child = (self.rows.labels(protocol, self.model_name, self.model_version), None)
            self._children[("rows", protocol, 0)] = child
        child[0].inc(rows)

    def log_dropped_rows(self, reason: str, rows: int) -> None:
        self.log_dropped.labels(reason).inc(rows)

    def unknown_category(self, column: str, rows: int) -> None:
        self.unknown_categories.labels(column, self.model_version).inc(rows)

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged, path=directory)
            return bytes(generate_latest(merged))
        return bytes(generate_latest(self.registry))


def build_metrics(model_name: str, model_version: str, alias: str | None) -> Metrics:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    reg = CollectorRegistry()
    version_labels = ["model_name", "model_version"]
    metrics = Metrics(
        registry=reg,
        requests=Counter(
            "mlops_requests",
            "HTTP requests by endpoint, status and protocol (mlops, mlflow, v2)",
            ["endpoint", "status", "protocol", *version_labels],
            registry=reg,
        ),
        latency=Histogram(
            "mlops_request_duration_seconds",
            "Time from request start to the last response byte handed to the server",
            ["endpoint", "protocol", "model_version"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        ),
        errors=Counter(
            "mlops_request_errors",
            "Rejected or failed requests by kind and protocol",
            ["kind", "protocol", "model_version"],
            registry=reg,
        ),
        rows=Counter("mlops_rows_predicted", "Rows predicted", ["protocol", *version_labels], registry=reg),
        model_info=Gauge(
            "mlops_model_info",
            "The model version this server answers with",
            [*version_labels, "alias"],
            registry=reg,
            multiprocess_mode="max",
        ),
        log_dropped=Counter(
            "mlops_prediction_log_dropped_rows",
            "Rows not logged, by reason: rows_limit or bytes_limit (the logger held too much), shutdown (not "
            "written before the server stopped)",
            ["reason"],
            registry=reg,
        ),
        log_written=Counter(
            "mlops_prediction_log_written_rows", "Rows written to the prediction log sink", registry=reg
        ),
        log_failed=Counter("mlops_prediction_log_failed_rows", "Rows lost because the sink failed", registry=reg),
        unknown_categories=Counter(
            "mlops_unknown_categories",
            "Rows scored with a category the model never saw (accepted by the data contract), by column",
            ["column", "model_version"],
            registry=reg,
        ),
        model_name=model_name,
        model_version=model_version,
    )
    metrics.model_info.labels(model_name, model_version, alias or "").set(1)
    for reason in DROP_REASONS:
        # Every reason from the start at 0, so a rate() over it exists before the first drop.
        metrics.log_dropped.labels(reason)
    return metrics
