"""The file a launcher hands a job (`python -m ml.train --job FILE`): `mlops` writes it without importing
`ml.train`, the job reads it with `ml.train.job`; what is written is what is read."""

from __future__ import annotations

from ml.gitinfo import GitInfo
from ml.jobs.spec import job_context_json
from ml.train.job import JobContext


def test_what_the_launcher_writes_is_what_the_job_reads(tmp_path):
    path = tmp_path / "job.json"
    tags = {"job.name": "n", "job.image": "i:t"}
    path.write_text(job_context_json(tags, "abc123", True, "runs:/r/data/dataset.csv", "f" * 64))
    assert JobContext.load(path) == JobContext(
        tags=tags, git=GitInfo("abc123", True), data_uri="runs:/r/data/dataset.csv", data_sha256="f" * 64
    )


def test_outside_a_repository_git_stays_unknown_and_no_data_is_fetched(tmp_path):
    path = tmp_path / "job.json"
    path.write_text(job_context_json({}, "unknown", None))
    loaded = JobContext.load(path)
    assert loaded.git == GitInfo("unknown", None) and loaded.git.dirty_tag == "unknown"
    assert loaded.fetch_data(spec=None, tracking_uri="http://unused") is None  # type: ignore[arg-type]
