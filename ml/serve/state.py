"""What one worker process holds: the loaded model, its metrics and its prediction logger.

Imported by `ml.serve.app` (whose `create_app` builds one per worker), never the other way round.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ml.serve.errors import RequestError
from ml.serve.loader import Manifest, ModelRef
from ml.serve.metrics import Metrics, build_metrics
from ml.serve.predictor import Prediction, Predictor, load_predictor
from ml.serve.predlog import Entry, PredictionLogger
from ml.serve.schema import Batch
from ml.serve.settings import ServeSettings

log = logging.getLogger(__name__)

VERSION_DIR_ENV = "MLOPS_SERVE_VERSION_DIR"


class ServerState:
    def __init__(self, settings: ServeSettings, version_dir: Path) -> None:
        self.settings = settings
        self.version_dir = version_dir
        self.alias = ModelRef.parse(settings.model_uri).alias
        self.manifest = Manifest.read(version_dir)
        self.metrics: Metrics = build_metrics(self.manifest.name, self.manifest.version, self.alias)
        self.predictor: Predictor | None = None
        self.predlog: PredictionLogger | None = None
        self.failure: str | None = None

    def load(self) -> None:
        try:
            predictor = load_predictor(self.version_dir, self.alias, fast_path=self.settings.fast_path)
            if self.settings.prediction_log:
                self.predlog = self._logger()
                self.predlog.start()
            # Set last: /ready turns 200 on this, and the first request must already find the logger.
            self.predictor = predictor
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            log.exception("model load failed")

    def _logger(self) -> PredictionLogger:
        from ml.serve.sinks import make_sink

        s, m = self.settings, self.metrics
        return PredictionLogger(
            make_sink(s.prediction_log, s.prediction_log_format),
            model_name=self.manifest.name,
            model_version=self.manifest.version,
            sample=s.prediction_log_sample,
            max_rows=s.prediction_log_max_rows,
            max_bytes=s.prediction_log_max_bytes,
            on_dropped=m.log_dropped_rows,
            on_written=m.log_written.inc,
            on_failed=m.log_failed.inc,
        )

    def close(self) -> None:
        if self.predlog is not None:
            self.predlog.close()

    def require_ready(self) -> Predictor:
        if self.predictor is None:
            reason = self.failure or "the model is still loading"
            raise RequestError.single("not_ready", f"not ready: {reason}; retry after /ready answers 200")
        return self.predictor

    def error(self, kind: str, protocol: str) -> None:
        self.metrics.error(kind, protocol)

    def observe(self, endpoint: str, protocol: str, status: int, seconds: float) -> None:
        self.metrics.request(endpoint, protocol, status, seconds)

    def predicted(self, protocol: str, request_id: str, batch: Batch, result: Prediction) -> None:
        self.metrics.predicted(batch.rows, protocol)
        for column, mask in batch.unknown.items():
            self.metrics.unknown_category(column, int(mask.sum()))
        logger = self.predlog
        if logger is None or not logger.sampled():
            return
        logger.submit(
            Entry(
                ts=datetime.now(UTC).isoformat(timespec="microseconds"),
                request_id=request_id,
                rows=batch.rows,
                columns=batch.columns,
                predictions=result.predictions,
                proba=_proba_of_prediction(result),
                protocol=protocol,
                unknown=batch.unknown,
            )
        )

    def metrics_text(self) -> bytes:
        return self.metrics.render()

    def metadata(self) -> dict[str, Any]:
        m = self.manifest
        predictor = self.require_ready()
        return {
            "name": m.name,
            "version": m.version,
            "alias": self.alias,
            "model_uri": self.settings.model_uri,
            "run_id": m.run_id,
            "data_sha256": m.data_sha256,
            "signature": predictor.signature,
            "input_schema": predictor.schema.as_json(),
            "classes": predictor.classes,
            "fast_path": predictor.fast is not None,
        }

    def v2_metadata(self) -> dict[str, Any]:
        from ml.serve.inference_v2 import model_metadata

        predictor = self.require_ready()
        classes = predictor.classes
        example = np.asarray(classes if classes is not None else [0.0])
        labels_type = "BYTES" if example.dtype.kind in "OUS" else "INT64" if example.dtype.kind in "iub" else "FP64"
        m = self.manifest
        return model_metadata(
            m.name, m.version, predictor.schema, labels_type, None if classes is None else len(classes)
        )

    def openapi(self) -> dict[str, Any]:
        from ml.serve.openapi import openapi_document

        schema = self.predictor.schema if self.predictor is not None else None
        return openapi_document(self.manifest.name, self.manifest.version, schema, self.settings.max_rows)


def _proba_of_prediction(result: Prediction) -> list[float] | None:
    if result.probabilities is None:
        return None
    if len(result.probabilities[0]) == 2:
        return [p[1] for p in result.probabilities]
    return [max(p) for p in result.probabilities]
