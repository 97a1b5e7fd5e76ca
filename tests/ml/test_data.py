"""Ingest: local files, bundled datasets and S3 (moto's real S3 server), and the content hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ml.data import DataSourceError, load_dataset, resolve_local_path
from ml.spec import DatasetSpec, parse_dataset_spec


def spec_for(uri: str, base_dir: Path = Path("."), **source: Any) -> DatasetSpec:
    return parse_dataset_spec(
        {
            "name": "toy",
            "source": {"uri": uri, **source},
            "target": "y",
            "task": "binary",
            "columns": {"x": {"type": "float"}, "c": {"type": "category"}},
        },
        base_dir,
    )


@pytest.fixture
def toy_frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [0.5, 1.5, 2.5, 3.5], "c": ["a", "b", "a", "b"], "y": [0, 1, 0, 1]})


def test_csv_and_parquet_files_with_relative_and_file_uris(tmp_path: Path, toy_frame: pd.DataFrame) -> None:
    (tmp_path / "d").mkdir()
    toy_frame.to_csv(tmp_path / "d" / "toy.csv", index=False)
    toy_frame.to_parquet(tmp_path / "d" / "toy.parquet", index=False)
    for uri in ("d/toy.csv", "file:d/toy.csv", f"file://{tmp_path}/d/toy.csv", "d/toy.parquet"):
        loaded = load_dataset(spec_for(uri, tmp_path))
        pd.testing.assert_frame_equal(loaded.frame, toy_frame, check_dtype=False)
        assert loaded.rows == 4 and len(loaded.sha256) == 64 and loaded.uri == uri
    raw = (tmp_path / "d" / "toy.csv").read_bytes()
    import hashlib

    assert load_dataset(spec_for("d/toy.csv", tmp_path)).sha256 == hashlib.sha256(raw).hexdigest()


def test_one_changed_byte_changes_the_hash(tmp_path: Path, toy_frame: pd.DataFrame) -> None:
    path = tmp_path / "toy.csv"
    toy_frame.to_csv(path, index=False)
    before = load_dataset(spec_for("toy.csv", tmp_path)).sha256
    raw = bytearray(path.read_bytes())
    raw[-3] = ord("9") if raw[-3] != ord("9") else ord("8")
    path.write_bytes(bytes(raw))
    after = load_dataset(spec_for("toy.csv", tmp_path)).sha256
    assert before != after
    assert load_dataset(spec_for("toy.csv", tmp_path)).sha256 == after


def test_bundled_datasets_are_stable() -> None:
    first = load_dataset(spec_for("sklearn://breast_cancer"))
    second = load_dataset(spec_for("sklearn://breast_cancer"))
    assert first.rows == 569 and first.sha256 == second.sha256
    assert "y" in first.frame.columns and "target" not in first.frame.columns
    with pytest.raises(DataSourceError, match=r"unknown bundled dataset 'housing'.*breast_cancer"):
        load_dataset(spec_for("sklearn://housing"))


def test_clear_errors_for_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="does not exist"):
        load_dataset(spec_for("missing.csv", tmp_path))
    with pytest.raises(DataSourceError, match="unsupported source URI scheme 'ftp'"):
        load_dataset(spec_for("ftp://host/x.csv", tmp_path))
    (tmp_path / "x.bin").write_bytes(b"\x00")
    with pytest.raises(DataSourceError, match=r"set source\.format"):
        load_dataset(spec_for("x.bin", tmp_path))
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(DataSourceError, match="cannot parse the data as parquet"):
        load_dataset(spec_for("x.parquet", tmp_path))


def test_resolve_local_path(tmp_path: Path) -> None:
    assert resolve_local_path("file:///abs/x.csv", tmp_path) == Path("/abs/x.csv")
    assert resolve_local_path("rel/x.csv", tmp_path) == tmp_path / "rel" / "x.csv"


@pytest.mark.integration
def test_reads_from_a_moto_s3_bucket(s3_server: str, s3: Any, s3_bucket: str, toy_frame: pd.DataFrame) -> None:
    body = toy_frame.to_parquet(index=False)
    s3.put_object(Bucket=s3_bucket, Key="datasets/toy.parquet", Body=body)
    loaded = load_dataset(spec_for(f"s3://{s3_bucket}/datasets/toy.parquet"), s3_endpoint=s3_server)
    pd.testing.assert_frame_equal(loaded.frame, toy_frame)
    import hashlib

    assert loaded.sha256 == hashlib.sha256(body).hexdigest()


@pytest.mark.integration
def test_s3_endpoint_from_the_environment(
    s3_server: str, s3: Any, s3_bucket: str, toy_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=s3_bucket, Key="toy.csv", Body=toy_frame.to_csv(index=False).encode())
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    assert load_dataset(spec_for(f"s3://{s3_bucket}/toy.csv")).rows == 4
    with pytest.raises(DataSourceError, match=r"cannot read s3://.*/nope.csv \(NoSuchKey\)"):
        load_dataset(spec_for(f"s3://{s3_bucket}/nope.csv"))
