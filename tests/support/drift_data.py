"""A small seeded tabular generator with controllable drift, and a writer of prediction-log files
(the layout of docs/architecture.md), for the monitoring tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

NUMERIC = ["age", "income", "score", "tenure"]
CATEGORICAL = ["plan", "region"]
PLANS = ["basic", "plus", "pro"]
REGIONS = ["north", "south", "east", "west"]


def make_frame(
    rows: int,
    seed: int,
    *,
    shift: dict[str, float] | None = None,
    plan_probs: tuple[float, float, float] = (0.5, 0.3, 0.2),
) -> pd.DataFrame:
    """Features plus the model outputs, with ``shift`` adding that many standard deviations to a column."""
    rng = np.random.default_rng(seed)
    shift = shift or {}
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "income": rng.lognormal(10, 0.5, rows),
            "score": rng.uniform(0, 1, rows),
            "tenure": rng.poisson(5, rows).astype("float64"),
            "plan": rng.choice(PLANS, rows, p=list(plan_probs)),
            "region": rng.choice(REGIONS, rows),
        }
    )
    for name, sds in shift.items():
        frame[name] = frame[name] + sds * frame[name].std()
    logit = 0.05 * (frame["age"] - 40) + 2 * (frame["score"] - 0.5)
    proba = 1 / (1 + np.exp(-logit))
    frame["_proba"] = proba
    frame["_prediction"] = (proba > 0.5).astype("int64")
    return frame


def log_frame(
    frame: pd.DataFrame,
    *,
    model: str = "churn",
    version: str = "1",
    start: datetime | None = None,
    step: timedelta = timedelta(seconds=1),
) -> pd.DataFrame:
    """The frame in the prediction-log layout of docs/architecture.md, one request per row."""
    start = start or datetime(2026, 11, 20, 12, tzinfo=UTC)
    out = frame.copy()
    out.insert(0, "_ts", [(start + i * step).isoformat().replace("+00:00", "Z") for i in range(len(frame))])
    out.insert(1, "_request_id", [f"req-{i}" for i in range(len(frame))])
    out.insert(2, "_row", 0)
    out.insert(3, "_model_name", model)
    out.insert(4, "_model_version", version)
    return out


def write_log(root: Path, frame: pd.DataFrame, fmt: str = "parquet", model: str = "churn") -> list[Path]:
    """Write logged rows under <root>/<model>/date=YYYY-MM-DD/<hour>-<uuid>.<fmt>, one file per day."""
    paths = []
    days = frame["_ts"].str.slice(0, 10)
    for day, part in frame.groupby(days):
        folder = root / model / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{part['_ts'].iloc[0][11:13]}-{uuid.uuid4().hex[:8]}.{fmt}"
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), path)
        else:
            part.to_json(path, orient="records", lines=True)
        paths.append(path)
    return paths
