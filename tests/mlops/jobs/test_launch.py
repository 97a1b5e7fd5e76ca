"""Pure parts of `mlops train` as a job: where it runs, the files it gets, the summary it reports."""

from __future__ import annotations

import json

import pytest
import yaml

from ml.jobs.request import write_job_files
from mlops.jobs.launch import choose_where, parse_summary


@pytest.mark.parametrize(
    ("flag", "section", "expected"),
    [
        (None, None, "local"),
        (None, {}, "local"),
        (None, {"where": "cluster"}, "cluster"),
        ("local", {"where": "cluster"}, "local"),
        ("cluster", {"where": "local"}, "cluster"),
    ],
)
def test_the_flag_wins_then_the_stack_then_this_process(flag, section, expected):
    assert choose_where(flag, section) == expected


def test_an_unknown_where_is_refused():
    with pytest.raises(ValueError, match="local, cluster"):
        choose_where("moon", None)


def test_the_job_files_point_the_config_at_the_copied_spec_and_are_readable(tmp_path):
    source = tmp_path / "src"
    (source / "specs").mkdir(parents=True)
    (source / "specs" / "d.yaml").write_text("name: d\n")
    (source / "train.yaml").write_text("dataset: specs/d.yaml\nmodel_name: m\nseed: 7\n")
    out = tmp_path / "job"
    out.mkdir(mode=0o700)
    write_job_files(out, source / "train.yaml", source / "specs" / "d.yaml", '{"tags": {}}')
    assert yaml.safe_load((out / "train.yaml").read_text()) == {"dataset": "dataset.yaml", "model_name": "m", "seed": 7}
    assert (out / "dataset.yaml").read_text() == "name: d\n"
    assert json.loads((out / "job.json").read_text()) == {"tags": {}}
    assert out.stat().st_mode & 0o777 == 0o755
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in out.iterdir())


def test_the_summary_is_the_last_json_object_on_stdout():
    stdout = 'noise\n{"version": "1"}\n{"version": "2", "model_name": "m"}\n'
    assert parse_summary(stdout) == {"version": "2", "model_name": "m"}
    assert parse_summary("Traceback...\n") is None
