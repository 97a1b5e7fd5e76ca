"""Live model quality: join ground-truth labels to logged predictions and compare with registered metrics.

Only the labelled rows are kept while the log streams by (prediction, probability, label), so memory
follows the size of the labels file, not of the window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml.monitor.logsource import filesystem

log = logging.getLogger(__name__)

HIGHER_IS_BETTER = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "r2": True,
    "rmse": False,
    "mae": False,
}
LOG_COLUMNS = ["_request_id", "_row", "_prediction", "_proba"]


def _read_one(fs: Any, path: str) -> pa.Table:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with fs.open_input_file(path) as handle:
            return pq.read_table(handle)
    import pyarrow.csv as pcsv

    with fs.open_input_stream(path) as handle:
        return pcsv.read_csv(handle)


def load_labels(uri: str) -> pa.Table:
    """Labels (request_id, row, label) from a CSV/Parquet file, or every such file under a directory/prefix."""
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"labels {uri} not found: pass a CSV or Parquet file (or a prefix of them)")
    if info.type == pafs.FileType.Directory:
        paths = sorted(
            i.path
            for i in fs.get_file_info(pafs.FileSelector(path, recursive=True))
            if i.type == pafs.FileType.File and i.path.endswith((".csv", ".parquet"))
        )
        if not paths:
            raise FileNotFoundError(f"no .csv or .parquet label files under {uri}")
        tables = [_read_one(fs, p) for p in paths]
    else:
        tables = [_read_one(fs, path)]
    table = pa.concat_tables(tables, promote_options="permissive")
    missing = {"request_id", "label"} - set(table.schema.names)
    if missing:
        raise ValueError(
            f"labels {uri} lack columns {sorted(missing)}: they need request_id, label "
            f"and optionally row (default 0); found {table.schema.names}"
        )
    row = table.column("row") if "row" in table.schema.names else pa.array(np.zeros(table.num_rows, "int64"))
    return pa.table(
        {
            "_request_id": pc.cast(table.column("request_id"), pa.string()),
            "_row": pc.cast(row, pa.int64()),
            "label": table.column("label"),
        }
    )


@dataclass
class LabelJoin:
    """Collects (prediction, proba, label) for the logged rows that have a label."""

    labels: pa.Table
    parts: list[pa.Table] = field(default_factory=list)

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        names = batch.schema.names
        if "_request_id" not in names or "_prediction" not in names:
            return
        cols = {
            "_request_id": pc.cast(batch.column("_request_id"), pa.string()),
            "_row": pc.cast(batch.column("_row"), pa.int64())
            if "_row" in names
            else pa.array(np.zeros(batch.num_rows, "int64")),
            "_prediction": batch.column("_prediction"),
        }
        if "_proba" in names:
            cols["_proba"] = pc.cast(batch.column("_proba"), pa.float64())
        joined = pa.table(cols).join(self.labels, keys=["_request_id", "_row"], join_type="inner")
        if joined.num_rows:
            self.parts.append(joined)

    def table(self) -> pa.Table | None:
        return pa.concat_tables(self.parts, promote_options="permissive") if self.parts else None


def _as_label_strings(values: pa.ChunkedArray) -> np.ndarray:
    import pandas as pd

    from ml.profile import category_strings

    return category_strings(pd.Series(values.to_numpy(zero_copy_only=False))).to_numpy()


def live_metrics(joined: pa.Table, task: str) -> dict[str, float]:
    """The registered metric set (without the test_ prefix) computed on the labelled live rows."""
    from sklearn import metrics as skm

    if task == "regression":
        y = pc.cast(joined.column("label"), pa.float64()).to_numpy(zero_copy_only=False)
        p = pc.cast(joined.column("_prediction"), pa.float64()).to_numpy(zero_copy_only=False)
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(y, p))),
            "mae": float(skm.mean_absolute_error(y, p)),
            "r2": float(skm.r2_score(y, p)) if len(y) > 1 else float("nan"),
        }
    y = _as_label_strings(joined.column("label"))
    p = _as_label_strings(joined.column("_prediction"))
    out = {"accuracy": float(skm.accuracy_score(y, p))}
    classes = sorted(set(y) | set(p))
    if task == "binary" and len(classes) <= 2:
        positive = "1" if "1" in classes else ("true" if "true" in classes else classes[-1])
        for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
            out[name] = float(fn(y, p, pos_label=positive, zero_division=0))
        if "_proba" in joined.schema.names and len(set(y)) == 2:
            proba = joined.column("_proba").to_numpy(zero_copy_only=False)
            if not np.isnan(proba).any():
                out["roc_auc"] = float(skm.roc_auc_score(y == positive, proba))
    else:
        for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
            out[name] = float(fn(y, p, average="macro", zero_division=0))
    return out


def compare(live: dict[str, float], registered: dict[str, float], tolerance: float) -> dict[str, Any]:
    """Per metric: live vs registered and whether it decayed beyond the tolerance.

    Scores (higher is better) decay when they drop by more than ``tolerance`` in absolute terms; errors
    (rmse, mae) when they grow by more than ``tolerance`` relative to the registered value.
    """
    rows = {}
    for name, value in live.items():
        ref = registered.get(name)
        if ref is None or np.isnan(value):
            rows[name] = {"live": value, "registered": ref, "decayed": False}
            continue
        decayed = value < ref - tolerance if HIGHER_IS_BETTER.get(name, True) else value > ref * (1 + tolerance)
        rows[name] = {"live": value, "registered": ref, "decayed": bool(decayed)}
    return rows
