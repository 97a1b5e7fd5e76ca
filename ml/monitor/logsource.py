"""Read the prediction log (docs/architecture.md) as a stream of Arrow batches within a time window.

Files live under ``<sink>/<model>/date=YYYY-MM-DD/``; whole days outside the window are skipped by
path, and rows are filtered on ``_ts``. Parquet is read one row group at a time and jsonl in fixed-size
blocks, so memory does not grow with the size of the window.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

log = logging.getLogger(__name__)

BATCH_ROWS = 262_144
JSON_BLOCK_BYTES = 32 << 20
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_SUFFIXES = (".parquet", ".jsonl", ".json", ".jsonl.gz")


@dataclass(frozen=True)
class Window:
    """Half-open time range [start, end) in UTC; None on either side means unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    def covers_day(self, day: date) -> bool:
        return not ((self.start and day < self.start.date()) or (self.end and day > self.end.date()))


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _instant(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{option} {text!r} is not an ISO-8601 time; e.g. 2026-11-26T08:00:00Z") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_window(
    window: str | None = None, since: str | None = None, until: str | None = None, now: datetime | None = None
) -> Window:
    """``--window 24h`` (the last 24 hours up to now) or ``--since ISO [--until ISO]``; neither: everything."""
    if window and since:
        raise ValueError("give --window or --since, not both")
    end = _instant(until, "--until") if until else None
    if window:
        match = _DURATION.match(window.strip().lower())
        if not match:
            raise ValueError(f"--window {window!r} is not a duration; use e.g. 30m, 24h, 7d or 2w")
        end = end or now or datetime.now(UTC)
        return Window(end - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))}), end)
    start = _instant(since, "--since") if since else None
    if start and end and start >= end:
        raise ValueError(f"--since {since} is not before --until {until}")
    return Window(start, end)


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """An Arrow filesystem and the path inside it, for file:// URIs, plain paths and s3:// URIs."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = parsed.path if parsed.scheme else uri
        return pafs.LocalFileSystem(), os.path.abspath(path)
    if parsed.scheme == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        options: dict[str, object] = {"region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        if endpoint:
            endpoint_url = urlparse(endpoint)
            options.update(endpoint_override=endpoint_url.netloc, scheme=endpoint_url.scheme or "https")
        return pafs.S3FileSystem(**options), f"{parsed.netloc}{parsed.path}".rstrip("/")
    raise ValueError(f"unsupported prediction log URI {uri!r}: use file:///path, a local path or s3://bucket/prefix")


def list_files(uri: str, model: str, window: Window) -> tuple[pafs.FileSystem, list[str]]:
    """Log files of one model whose date directory overlaps the window, oldest first."""
    fs, root = filesystem(uri)
    base = f"{root}/{model}"
    info = fs.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(
            f"no prediction log for model {model!r} at {uri}/{model}: check --model and --log-uri, "
            "and that the server runs with MLOPS_PREDICTION_LOG set"
        )
    files: list[str] = []
    for entry in fs.get_file_info(pafs.FileSelector(base, recursive=False)):
        match = _DATE_DIR.match(entry.base_name)
        if entry.type != pafs.FileType.Directory or not match:
            continue
        if not window.covers_day(date.fromisoformat(match.group(1))):
            continue
        for item in fs.get_file_info(pafs.FileSelector(entry.path, recursive=True)):
            if item.type == pafs.FileType.File and _is_log_file(item.base_name):
                files.append(item.path)
    return fs, sorted(files)


def _is_log_file(name: str) -> bool:
    """A finished log file. The server writes each file under a hidden temporary name (`.HH-uuid.parquet.tmp`,
    or `.HH-uuid.parquet` from older servers) and renames it when complete: a hidden file is one being
    written, or one a killed server left half-written, and reading it would fail or count partial rows."""
    return not name.startswith(".") and name.endswith(_SUFFIXES)


def _timestamps(column: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_timestamp(column.type):
        return column if column.type.tz else pc.assume_timezone(column, "UTC")
    return pc.cast(column, pa.timestamp("us", tz="UTC"))


def filter_window(batch: pa.RecordBatch | pa.Table, window: Window) -> pa.RecordBatch | pa.Table:
    if window.start is None and window.end is None:
        return batch
    if "_ts" not in batch.schema.names:
        raise ValueError("prediction log rows have no '_ts' column, so a time window cannot be applied")
    ts = _timestamps(batch.column("_ts"))
    mask = None
    if window.start is not None:
        mask = pc.greater_equal(ts, pa.scalar(window.start.astimezone(UTC), pa.timestamp("us", tz="UTC")))
    if window.end is not None:
        upper = pc.less(ts, pa.scalar(window.end.astimezone(UTC), pa.timestamp("us", tz="UTC")))
        mask = upper if mask is None else pc.and_(mask, upper)
    return batch.filter(mask)


def _parquet_batches(fs: pafs.FileSystem, path: str, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    with fs.open_input_file(path) as handle:
        reader = pq.ParquetFile(handle)
        present = [c for c in columns if c in reader.schema_arrow.names]
        # One row group at a time: ParquetFile.iter_batches with a column selection kept every
        # decoded row group alive until the file was done (1.8 GB for a 10M-row file in pyarrow 25).
        for group in range(reader.num_row_groups):
            yield from reader.read_row_group(group, columns=present).to_batches(max_chunksize=BATCH_ROWS)


def _jsonl_batches(fs: pafs.FileSystem, path: str, numeric: Sequence[str]) -> Iterator[pa.RecordBatch]:
    import pyarrow.json as pj

    # Numeric columns get an explicit type: otherwise a block of whole numbers infers int64 and
    # the next block with a fraction fails to parse against it.
    schema = pa.schema([(name, pa.float64()) for name in numeric] + [("_ts", pa.string())])
    compression = "gzip" if path.endswith(".gz") else None
    with fs.open_input_stream(path, compression=compression) as handle:
        reader = pj.open_json(
            handle,
            read_options=pj.ReadOptions(block_size=JSON_BLOCK_BYTES),
            parse_options=pj.ParseOptions(explicit_schema=schema),
        )
        yield from reader


def iter_batches(
    fs: pafs.FileSystem, files: Sequence[str], columns: Sequence[str], numeric: Sequence[str], window: Window
) -> Generator[pa.RecordBatch | pa.Table, None, None]:
    """Batches of the wanted columns (those that exist) within the window, file by file."""
    # _ts is read only to apply a bounded window: decoding a string column per row is not free.
    bounded = window.start is not None or window.end is not None
    wanted = list(dict.fromkeys([*columns, "_ts"] if bounded else columns))
    return _read_ahead(_window_batches(fs, files, wanted, numeric, window))


def _window_batches(
    fs: pafs.FileSystem, files: Sequence[str], wanted: Sequence[str], numeric: Sequence[str], window: Window
) -> Generator[pa.RecordBatch | pa.Table, None, None]:
    for path in files:
        log.debug("reading %s", path)
        source = _parquet_batches(fs, path, wanted) if path.endswith(".parquet") else _jsonl_batches(fs, path, numeric)
        for batch in source:
            batch = filter_window(batch, window)
            if batch.num_rows:
                yield batch


READ_AHEAD_BYTES = 64 << 20
"""Largest batch after which the next one is read ahead: that is a second batch in memory, and a wider one
(a 262K-row group of 100 columns is 210 MB) would crowd the 1 GB a scheduled monitor is given."""
RELEASE_BYTES = 64 << 20
"""Batches read between two hand-backs of freed pages to the allocator."""


def _read_ahead(
    batches: Generator[pa.RecordBatch | pa.Table, None, None],
) -> Generator[pa.RecordBatch | pa.Table, None, None]:
    """The batches, each next one read and decoded on a thread of its own (Arrow releases the GIL) while the
    caller folds the one before, across file boundaries: the server writes a file per flush."""
    read = 0
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="log-read") as ahead:
            pending = ahead.submit(next, batches, None)
            while (batch := pending.result()) is not None:
                size = batch.nbytes
                if size <= READ_AHEAD_BYTES:
                    pending = ahead.submit(next, batches, None)
                yield batch
                del batch
                if size > READ_AHEAD_BYTES:
                    pending = ahead.submit(next, batches, None)
                read += size
                if read >= RELEASE_BYTES:
                    # mimalloc keeps the pages of freed batches: a 10M-row window peaked at 413-450 MB, not 355-386.
                    pa.default_memory_pool().release_unused()
                    read = 0
    finally:
        batches.close()
