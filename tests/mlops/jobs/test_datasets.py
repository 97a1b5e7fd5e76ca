"""Which data a job can reach (decided before it starts) and how an upload is keyed."""

from __future__ import annotations

import hashlib

import pytest

from ml.jobs.datasets import (
    DataRefused,
    LocalFile,
    PassThrough,
    artifact_name,
    file_sha256,
    lookup_filter,
    plan_data,
    run_name,
)


@pytest.mark.parametrize("uri", ["sklearn://breast_cancer", "s3://bucket/data/train.parquet"])
def test_sklearn_and_s3_pass_through(tmp_path, uri):
    assert plan_data(uri, tmp_path) == PassThrough(uri)


@pytest.mark.parametrize("form", ["data.csv", "file:data.csv", "ABSOLUTE"])
def test_a_local_file_is_uploaded_first(tmp_path, form):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    uri = f"file://{path}" if form == "ABSOLUTE" else form
    assert plan_data(uri, tmp_path) == LocalFile(path)


def test_a_missing_local_file_is_refused_with_its_path(tmp_path):
    with pytest.raises(DataRefused, match="does not exist"):
        plan_data("missing.csv", tmp_path)


@pytest.mark.parametrize("uri", ["https://example.com/x.csv", "gs://bucket/x.csv", "hdfs://nn/x.parquet"])
def test_other_schemes_are_refused_with_the_reason_and_the_way_out(tmp_path, uri):
    with pytest.raises(DataRefused) as err:
        plan_data(uri, tmp_path)
    message = str(err.value)
    assert uri in message and "sklearn://" in message and "--where local" in message


def test_uploads_are_keyed_by_the_content_hash_not_the_name(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_bytes(b"x,y\n1,2\n" * 100_000)
    second.write_bytes(first.read_bytes())
    assert file_sha256(first) == file_sha256(second) == hashlib.sha256(first.read_bytes()).hexdigest()
    digest = file_sha256(first)
    assert digest in lookup_filter(digest) and "FINISHED" in lookup_filter(digest)
    assert run_name(digest) == f"sha256-{digest[:16]}"


def test_the_uploaded_name_keeps_the_suffix_the_format_is_read_from(tmp_path):
    assert artifact_name(tmp_path / "Train.PARQUET") == "dataset.parquet"
    assert artifact_name(tmp_path / "x.csv") == "dataset.csv"
