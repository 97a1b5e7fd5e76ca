"""The steps of `mlops train` as a job, through the `JobLauncher` seam with a launcher of the test's own:
what is refused before anything starts, what the job is handed, and what the operator is told."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from contract import Outputs
from ml.jobs.spec import TAG_JOB_IMAGE, TAG_JOB_NAME, TrainingJobSpec
from mlops.jobs.launch import FAILED_TO_START_EXIT, report, run_training_job
from mlops.jobs.launcher import JobFailedToStart, JobRequest, JobResult, LogSink
from mlops.stacks import Environment
from tests.support.paths import EXAMPLES

TRAINING = {
    "target": "docker",
    "image": "mlops-x/trainer:0123",
    "tracking_uri": "http://mlops-x-tracking:5000",
    "limits": {"cpus": 1, "memory_mb": 1024},
    "network": "mlops-x",
    "labels": {},
}
SUMMARY = {"run_id": "r", "model_name": "m", "version": "7", "challenger": True, "metrics": {"test_f1": 0.9}}


@dataclass
class RecordingLauncher:
    refuse: str | None = None
    exit_code: int = 0
    stdout: str = json.dumps(SUMMARY) + "\n"
    requests: list[JobRequest] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def preflight(self, spec: TrainingJobSpec) -> None:
        if self.refuse:
            raise JobFailedToStart(self.refuse)

    def run(self, spec: TrainingJobSpec, request: JobRequest, sink: LogSink) -> JobResult:
        self.requests.append(request)
        self.files = {p.name: p.read_text() for p in request.files.iterdir()}
        sink("- data ok: 569 rows")
        return JobResult(request.name, self.exit_code, self.stdout, ["Traceback", "ValueError: boom"])


def _environment() -> Environment:
    return Environment(name="x", outputs={Outputs.TRACKING_URI: "http://127.0.0.1:1", Outputs.TRAINING: TRAINING})


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200), out


def _config(tmp_path: Path, source_uri: str) -> Path:
    spec = yaml.safe_load((EXAMPLES / "breast_cancer" / "dataset.yaml").read_text())
    spec["source"] = {"uri": source_uri}
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump(spec))
    config = yaml.safe_load((EXAMPLES / "breast_cancer" / "train.yaml").read_text())
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "train.yaml"


def test_the_job_gets_the_config_the_spec_and_its_identity(tmp_path):
    launcher, (console, _) = RecordingLauncher(), _console()
    lines: list[str] = []
    outcome = run_training_job(
        _environment(), _config(tmp_path, "sklearn://breast_cancer"), console, launcher=launcher, sink=lines.append
    )
    assert (outcome.exit_code, outcome.summary) == (0, SUMMARY)
    assert lines == ["- data ok: 569 rows"]
    (request,) = launcher.requests
    assert yaml.safe_load(launcher.files["train.yaml"])["dataset"] == "dataset.yaml"
    context = json.loads(launcher.files["job.json"])
    assert context["tags"] == {TAG_JOB_NAME: request.name, TAG_JOB_IMAGE: TRAINING["image"]}
    assert context["data_uri"] is None


@pytest.mark.parametrize(
    ("source", "launcher", "needle", "code"),
    [
        ("https://example.com/x.csv", RecordingLauncher(), "cannot read source.uri", 2),
        ("sklearn://breast_cancer", RecordingLauncher(refuse="the trainer image is gone"), "image is gone", 4),
    ],
)
def test_what_cannot_work_is_refused_before_the_job_starts(tmp_path, source, launcher, needle, code):
    console, out = _console()
    outcome = run_training_job(_environment(), _config(tmp_path, source), console, launcher=launcher)
    assert outcome.exit_code == code and needle in out.getvalue()
    assert launcher.requests == []


def test_a_bad_config_is_refused_here_with_exit_2(tmp_path):
    config = _config(tmp_path, "sklearn://breast_cancer")
    config.write_text(config.read_text() + "unknown_key: 1\n")
    launcher, (console, out) = RecordingLauncher(), _console()
    assert run_training_job(_environment(), config, console, launcher=launcher).exit_code == 2
    assert "unknown_key" in out.getvalue() and launcher.requests == []


def test_an_environment_without_a_job_spec_says_to_bring_it_up(tmp_path):
    env = Environment(name="x", outputs={Outputs.TRACKING_URI: "http://127.0.0.1:1"})
    console, out = _console()
    outcome = run_training_job(env, _config(tmp_path, "sklearn://breast_cancer"), console, launcher=RecordingLauncher())
    assert outcome.exit_code == FAILED_TO_START_EXIT and "mlops env up x" in out.getvalue()


def test_a_failed_job_is_reported_with_its_last_lines_and_what_to_do(tmp_path):
    config = _config(tmp_path, "sklearn://breast_cancer")
    launcher, (console, out) = RecordingLauncher(exit_code=1, stdout=""), _console()
    outcome = run_training_job(_environment(), config, console, launcher=launcher)
    report(outcome, console, env="x", config_path=config, as_json=False)
    said = out.getvalue()
    assert "failed with exit code 1" in said and "  | ValueError: boom" in said
    assert f"mlops train --env x --config {config} --where local" in said
