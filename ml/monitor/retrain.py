"""Close the loop: retrain on the monitored window's labelled rows and register a challenger.

`assemble` gathers the rows (the window's labelled rows, plus the reference data by policy);
`write_training_inputs` hands them to a training job as a local file with the model's own spec;
`retrain_challenger` trains them in this process when no stack (no training cluster) is given.

The new version goes through the same validation, gates and registration as ``mlops train``
(``ml.train.run_training``); it gets the ``challenger`` alias only when its gates pass, and nothing here
touches ``champion``: promotion stays with ``mlops promote`` and its gates.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from contract import (
    TAG_TRIGGER_DRIFTED_FEATURES,
    TAG_TRIGGER_KIND,
    TAG_TRIGGER_MONITORING_RUN_ID,
    TAG_TRIGGER_WINDOW,
    TriggerKind,
)
from ml.monitor import logsource
from ml.monitor.judge import MonitorOutcome

if TYPE_CHECKING:
    import pandas as pd

    from ml.spec import DatasetSpec
    from ml.training_config import TrainingConfig

log = logging.getLogger(__name__)

MIN_TRAINING_ROWS = 50


def trigger_kind(outcome: MonitorOutcome) -> TriggerKind:
    """The finding the policy retrained on; quality decay first, as `should_retrain` weighs it."""
    policy = outcome.request.thresholds.retrain
    return "quality" if outcome.quality_decay and policy.on_quality_decay else "drift"


def trigger_tags(outcome: MonitorOutcome, monitoring_run_id: str | None) -> dict[str, str]:
    """The lineage of the retrained version: what found it necessary, and on which window."""
    result = outcome.to_dict()
    window = result["window"]
    return {
        TAG_TRIGGER_KIND: trigger_kind(outcome),
        TAG_TRIGGER_MONITORING_RUN_ID: monitoring_run_id or "",
        TAG_TRIGGER_DRIFTED_FEATURES: ",".join(result["drifted_features"]),
        TAG_TRIGGER_WINDOW: f"{window['start'] or ''}/{window['end'] or ''}",
    }


def labelled_window(outcome: MonitorOutcome, log_uri: str, features: list[str], target: str) -> pd.DataFrame:
    """The window's logged feature rows that have a label, with the label as the target column."""
    request = outcome.request
    if request.labels is None:
        raise ValueError("retraining needs ground truth for the window: pass --labels")
    labels = request.labels.rename_columns(["_request_id", "_row", target])
    fs, files = logsource.list_files(log_uri, request.model, request.window)
    parts = []
    for batch in logsource.iter_batches(fs, files, [*features, "_request_id", "_row"], features, request.window):
        names = batch.schema.names
        missing = [f for f in features if f not in names]
        if missing:
            raise ValueError(f"the prediction log lacks feature columns {missing}: cannot retrain on it")
        row = (
            pc.cast(batch.column("_row"), pa.int64())
            if "_row" in names
            else pa.array(np.zeros(batch.num_rows, dtype="int64"))
        )
        keys = pa.table(
            {
                "_request_id": pc.cast(batch.column("_request_id"), pa.string()),
                "_row": row,
                **{f: batch.column(f) for f in features},
            }
        )
        joined = keys.join(labels, keys=["_request_id", "_row"], join_type="inner")
        if joined.num_rows:
            parts.append(joined.select([*features, target]))
    if not parts:
        raise ValueError("no logged row of the window has a label: nothing to retrain on")
    return pa.concat_tables(parts, promote_options="permissive").to_pandas()


def _fingerprint(frame: pd.DataFrame) -> tuple[str, int]:
    import pandas as pd

    raw = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    return hashlib.sha256(raw).hexdigest(), len(raw)


@dataclass(frozen=True)
class RetrainData:
    """What a retrain trains on: the model's config and spec, and the rows assembled from the window."""

    config: TrainingConfig
    spec: DatasetSpec
    frame: pd.DataFrame
    sources: list[str]

    @property
    def uri(self) -> str:
        return " + ".join(self.sources)


def assemble(outcome: MonitorOutcome, *, log_uri: str, train_config: Path) -> RetrainData:
    """The window's labelled rows, after the reference data when the policy says `includeReference`."""
    import pandas as pd

    from ml.data import load_dataset
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(train_config)
    if config.model_name != outcome.request.model:
        raise ValueError(
            f"training config {train_config} trains {config.model_name!r}, but the monitored model "
            f"is {outcome.request.model!r}: pass that model's training config"
        )
    frame = labelled_window(outcome, log_uri, spec.feature_columns, spec.target)
    sources = [f"{log_uri}/{outcome.request.model} window {outcome.to_dict()['window']}"]
    if outcome.request.thresholds.retrain.include_reference:
        reference = load_dataset(spec).frame[[*spec.feature_columns, spec.target]]
        frame = pd.concat([reference, frame], ignore_index=True)
        sources.insert(0, spec.source.uri)
    if len(frame) < MIN_TRAINING_ROWS:
        raise ValueError(
            f"only {len(frame)} labelled rows to retrain on (need {MIN_TRAINING_ROWS}): widen the "
            "window or set mlops:monitoring.retrain.includeReference"
        )
    return RetrainData(config, spec, frame, sources)


def write_training_inputs(data: RetrainData, train_config: Path, directory: Path) -> Path:
    """The assembled rows as a Parquet file, the model's dataset spec reading it, and a training config
    using that spec, in `directory`; returns the config's path. The spec is the model's own (same columns,
    ranges and checks), only its source changes, so the job validates the window like any dataset."""
    dataset = directory / "retrain-data.parquet"
    data.frame.to_parquet(dataset, index=False)
    spec_raw = yaml.safe_load(data.config.dataset_spec_path().read_text()) or {}
    spec_raw["source"] = {"uri": str(dataset), "format": "parquet"}
    spec_path = directory / "retrain-dataset.yaml"
    spec_path.write_text(yaml.safe_dump(spec_raw, sort_keys=False))
    config_raw = yaml.safe_load(train_config.read_text()) or {}
    config_raw["dataset"] = str(spec_path)
    config_path = directory / "retrain-train.yaml"
    config_path.write_text(yaml.safe_dump(config_raw, sort_keys=False))
    return config_path


def retrain_challenger(
    outcome: MonitorOutcome, *, tracking_uri: str, log_uri: str, train_config: Path, progress: Any = None
) -> Any:
    """Train the model of `train_config` on the window (plus its reference data, by policy) in this process,
    for a monitor run without a stack; with a stack, the operator runs it as a job (`mlops.loop`)."""
    from ml.data import LoadedData
    from ml.train import run_training

    data = assemble(outcome, log_uri=log_uri, train_config=train_config)
    digest, size = _fingerprint(data.frame)
    loaded = LoadedData(frame=data.frame, uri=data.uri, sha256=digest, size_bytes=size)
    log.info("retraining %s on %d rows (%s)", data.config.model_name, len(data.frame), data.uri)
    return run_training(data.config, data.spec, tracking_uri, data=loaded, progress=progress)
