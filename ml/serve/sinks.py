"""Where prediction-log batches go: local files or S3, one object per flush.

Layout (docs/architecture.md): `<sink>/<model name>/date=YYYY-MM-DD/<hour>-<uuid>.<ext>`.
"""

from __future__ import annotations

import io
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import orjson

FORMATS = ("jsonl", "parquet")
TEMP_SUFFIX = ".tmp"


class Sink(Protocol):
    def write(self, model_name: str, table: dict[str, list[Any]]) -> str: ...


def encode(table: dict[str, list[Any]], fmt: str) -> bytes:
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pa.table(table), buf)
        return buf.getvalue()
    names = list(table)
    rows = zip(*(table[n] for n in names), strict=True)
    return b"".join(orjson.dumps(dict(zip(names, row, strict=True))) + b"\n" for row in rows)


def object_key(model_name: str, fmt: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{model_name}/date={now:%Y-%m-%d}/{now:%H}-{uuid.uuid4().hex}.{fmt}"


class FileSink:
    def __init__(self, root: Path, fmt: str) -> None:
        self.root, self.fmt = root, fmt

    def write(self, model_name: str, table: dict[str, list[Any]]) -> str:
        path = self.root / object_key(model_name, self.fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Hidden and without the log's suffix until complete: readers (ml.monitor.logsource) skip such names, so
        # neither a file being written nor one a killed server left half-written is ever read.
        tmp = path.with_name(f".{path.name}{TEMP_SUFFIX}")
        tmp.write_bytes(encode(table, self.fmt))
        tmp.replace(path)
        return str(path)


class S3Sink:
    def __init__(self, bucket: str, prefix: str, fmt: str, endpoint_url: str | None = None) -> None:
        import boto3

        self.bucket, self.prefix, self.fmt = bucket, prefix.strip("/"), fmt
        # boto3 reads AWS_ENDPOINT_URL(_S3) itself; MLFLOW_S3_ENDPOINT_URL is what the platform already sets
        # for MLflow's artifacts, so the same S3-compatible store works without a second setting.
        endpoint = endpoint_url or os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
        self.client = boto3.client("s3", endpoint_url=endpoint)

    def write(self, model_name: str, table: dict[str, list[Any]]) -> str:
        key = object_key(model_name, self.fmt)
        key = f"{self.prefix}/{key}" if self.prefix else key
        self.client.put_object(Bucket=self.bucket, Key=key, Body=encode(table, self.fmt))
        return f"s3://{self.bucket}/{key}"


def make_sink(uri: str, fmt: str, endpoint_url: str | None = None) -> Sink:
    if fmt not in FORMATS:
        raise ValueError(f"prediction log format {fmt!r} is not one of {', '.join(FORMATS)}")
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return FileSink(Path(parsed.path), fmt)
    if parsed.scheme == "s3" and parsed.netloc:
        return S3Sink(parsed.netloc, parsed.path, fmt, endpoint_url)
    raise ValueError(f"prediction log URI {uri!r} must be file:///absolute/path or s3://bucket/prefix")
