"""Reading the prediction log: layout, formats, time windows and the errors a user sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from ml.monitor import logsource
from tests.support.drift_data import log_frame, make_frame, write_log


def _rows(root: Path, window: logsource.Window, model: str = "churn") -> pa.Table:
    fs, files = logsource.list_files(str(root), model, window)
    batches = list(logsource.iter_batches(fs, files, ["age", "plan", "_prediction"], ["age"], window))
    return pa.Table.from_batches(batches) if batches else pa.table({})


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_window_selects_rows_by_timestamp_across_days(tmp_path: Path, fmt: str) -> None:
    start = datetime(2026, 11, 20, 22, tzinfo=UTC)
    frame = log_frame(make_frame(480, seed=1), start=start, step=timedelta(seconds=30))  # 22:00 -> 02:00
    write_log(tmp_path, frame, fmt)
    assert _rows(tmp_path, logsource.Window()).num_rows == 480
    window = logsource.Window(datetime(2026, 11, 20, 23, tzinfo=UTC), datetime(2026, 11, 21, 1, tzinfo=UTC))
    table = _rows(tmp_path, window)
    assert table.num_rows == 240
    assert set(table.schema.names) >= {"age", "plan", "_prediction", "_ts"}


def test_days_outside_the_window_are_not_opened(tmp_path: Path) -> None:
    frame = log_frame(make_frame(10, seed=1), start=datetime(2026, 11, 1, tzinfo=UTC))
    write_log(tmp_path, frame)
    (tmp_path / "churn" / "date=2026-10-01").mkdir()
    (tmp_path / "churn" / "date=2026-10-01" / "00-broken.parquet").write_text("not parquet")
    _, files = logsource.list_files(str(tmp_path), "churn", logsource.Window(datetime(2026, 11, 1, tzinfo=UTC)))
    assert len(files) == 1 and "date=2026-11-01" in files[0]


def test_file_uri_and_plain_path_are_the_same_log(tmp_path: Path) -> None:
    write_log(tmp_path, log_frame(make_frame(20, seed=2)))
    assert _rows(tmp_path, logsource.Window()).num_rows == 20
    _, files = logsource.list_files(f"file://{tmp_path}", "churn", logsource.Window())
    assert len(files) == 1


def test_unknown_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="check --model and --log-uri"):
        logsource.list_files(str(tmp_path), "nope", logsource.Window())


def test_unsupported_uri_scheme_is_rejected() -> None:
    with pytest.raises(ValueError, match="use file:///path"):
        logsource.filesystem("gs://bucket/x")


def test_parse_window_forms() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert logsource.parse_window("24h", now=now) == logsource.Window(now - timedelta(hours=24), now)
    assert logsource.parse_window("30m", now=now).start == now - timedelta(minutes=30)
    since = logsource.parse_window(since="2026-11-25T08:00:00Z")
    assert since.start == datetime(2026, 11, 25, 8, tzinfo=UTC) and since.end is None
    assert logsource.parse_window(since="2026-11-25T08:00:00").start.tzinfo is not None
    assert logsource.parse_window() == logsource.Window()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": "yesterday"}, "use e.g. 30m, 24h"),
        ({"window": "1h", "since": "2026-11-25"}, "not both"),
        ({"since": "last tuesday"}, "not an ISO-8601 time"),
        ({"since": "2026-11-26", "until": "2026-11-25"}, "is not before"),
    ],
)
def test_parse_window_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        logsource.parse_window(**kwargs)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_temporary_and_orphaned_files_of_the_server_are_never_read(tmp_path: Path, fmt: str) -> None:
    """A server killed mid-write leaves its hidden temporary file behind; the reader skips it (and the server's
    own sink still writes under such names, so a file being written is skipped too)."""
    from ml.serve.sinks import FileSink

    [written] = write_log(tmp_path, log_frame(make_frame(50, seed=3)), fmt)
    day = written.parent
    whole = written.read_bytes()
    (day / f".13-{'a' * 32}.{fmt}.tmp").write_bytes(whole[: len(whole) // 2])
    (day / f".13-{'b' * 32}.{fmt}").write_bytes(whole[: len(whole) // 3])
    _, files = logsource.list_files(str(tmp_path), "churn", logsource.Window())
    assert files == [str(written)]
    assert _rows(tmp_path, logsource.Window()).num_rows == 50
    served = Path(FileSink(tmp_path, fmt).write("churn", {"_ts": ["2026-11-26T10:00:00+00:00"], "age": [1.0]}))
    assert not served.name.startswith(".") and served.name.endswith(f".{fmt}")
    assert not list(served.parent.glob(f".{served.name}*")), "the sink left its temporary file behind"
