"""The file a launcher hands a job (`python -m ml.train --job FILE`): what is written is what is read."""

from __future__ import annotations

from ml.gitinfo import GitInfo
from ml.train.job import JobContext


def test_the_context_survives_the_trip_through_its_file(tmp_path):
    context = JobContext(
        tags={"job.name": "n", "job.image": "i:t"},
        git=GitInfo("abc123", True),
        data_uri="runs:/r/data/dataset.csv",
        data_sha256="f" * 64,
    )
    path = tmp_path / "job.json"
    path.write_text(context.to_json())
    assert JobContext.load(path) == context


def test_an_empty_context_reads_no_data_and_keeps_git_unknown(tmp_path):
    path = tmp_path / "job.json"
    path.write_text(JobContext().to_json())
    loaded = JobContext.load(path)
    assert loaded == JobContext()
    assert loaded.fetch_data(spec=None, tracking_uri="http://unused") is None  # type: ignore[arg-type]
