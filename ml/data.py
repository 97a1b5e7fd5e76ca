"""Ingest: read the bytes a dataset spec points at, hash them, and parse them into a DataFrame.

Sources: ``file:///abs/path``, a path relative to the spec (``data/x.parquet`` or ``file:data/x.parquet``),
``s3://bucket/key`` (boto3; the endpoint comes from ``s3_endpoint``, else ``AWS_ENDPOINT_URL_S3``, else
AWS), and ``sklearn://NAME`` for datasets bundled with scikit-learn.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from ml.spec import DatasetSpec

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SKLEARN_DATASETS = ("breast_cancer", "iris", "wine", "diabetes")


class DataSourceError(RuntimeError):
    """The dataset cannot be read; the message says which URI and what to check."""


@dataclass(frozen=True)
class LoadedData:
    frame: pd.DataFrame
    uri: str
    sha256: str
    size_bytes: int

    @property
    def rows(self) -> int:
        return len(self.frame)


def load_dataset(spec: DatasetSpec, s3_endpoint: str | None = None) -> LoadedData:
    """Read the spec's source; ``sha256`` is over the exact bytes read (a canonical CSV for sklearn://)."""
    uri = spec.source.uri
    scheme = urlparse(uri).scheme
    if scheme == "sklearn":
        frame, raw = _read_sklearn(uri, spec.target)
        return LoadedData(frame, uri, hashlib.sha256(raw).hexdigest(), len(raw))
    if scheme == "s3":
        raw = _read_s3(uri, s3_endpoint)
    elif scheme in ("", "file"):
        raw = _read_file(resolve_local_path(uri, spec.base_dir))
    else:
        raise DataSourceError(f"unsupported source URI scheme {scheme!r} in {uri!r}; use file://, s3:// or sklearn://")
    frame = parse_bytes(raw, _format_of(uri, spec.source.format))
    log.info("read %s: %d rows, %d bytes", uri, len(frame), len(raw))
    return LoadedData(frame, uri, hashlib.sha256(raw).hexdigest(), len(raw))


def resolve_local_path(uri: str, base_dir: Path) -> Path:
    parsed = urlparse(uri)
    raw_path = unquote(parsed.netloc + parsed.path) if parsed.scheme == "file" else uri
    path = Path(raw_path)
    return path if path.is_absolute() else (base_dir / path).resolve()


def _read_file(path: Path) -> bytes:
    if not path.is_file():
        raise DataSourceError(f"data file {path} does not exist; generate or copy it there, or fix source.uri")
    return path.read_bytes()


def _read_s3(uri: str, endpoint: str | None) -> bytes:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise DataSourceError(f"S3 URI {uri!r} must look like s3://BUCKET/KEY")
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or None
    client = boto3.client("s3", endpoint_url=endpoint)
    try:
        return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise DataSourceError(
            f"cannot read {uri} ({code or exc}) from endpoint {endpoint or 'AWS default'}; "
            "check the bucket/key, credentials, and --s3-endpoint / AWS_ENDPOINT_URL_S3"
        ) from exc
    except BotoCoreError as exc:
        raise DataSourceError(
            f"cannot reach S3 for {uri} at {endpoint or 'AWS default'}: {exc}; "
            "set --s3-endpoint / AWS_ENDPOINT_URL_S3 and AWS credentials"
        ) from exc


def _read_sklearn(uri: str, target: str) -> tuple[pd.DataFrame, bytes]:
    from sklearn import datasets

    name = urlparse(uri).netloc or urlparse(uri).path.lstrip("/")
    if name not in SKLEARN_DATASETS:
        raise DataSourceError(
            f"unknown bundled dataset {name!r} in {uri!r}; choose one of {', '.join(SKLEARN_DATASETS)}"
        )
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.rename(columns={"target": target})
    # Hash a canonical serialisation so the hash changes exactly when the bundled data does.
    raw = frame.to_csv(index=False, float_format="%.17g").encode()
    return frame, raw


def _format_of(uri: str, declared: str | None) -> str:
    if declared:
        return declared
    suffix = Path(urlparse(uri).path or uri).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt"):
        return "csv"
    raise DataSourceError(f"cannot tell the format of {uri!r} from its suffix; set source.format: csv|parquet")


def parse_bytes(raw: bytes, fmt: str) -> pd.DataFrame:
    import pandas as pd

    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(raw))
        return pd.read_csv(io.BytesIO(raw))
    except Exception as exc:
        raise DataSourceError(f"cannot parse the data as {fmt}: {exc}; check source.format") from exc
