"""The seam between `mlops train` and a training cluster: one request in, one result out.

`launch.py` knows nothing of Docker or Kubernetes: it builds a `JobRequest` (name, arguments of
`python -m ml.train`, the directory of files the job reads, labels) and hands it to the launcher of the
stack's target (`mlops.jobs.launch.LAUNCHERS`). A launcher checks what it can before anything starts (`preflight`: the
image exists, the network exists), runs the job, streams its log to a sink as it runs, and always removes
what it created, Ctrl-C included. The trials of a search run through `run_trials`: the same request run
`trials` times, at most `parallelism` at once, each told its index in TRIAL_INDEX_ENV (docker: one
container per trial; kubernetes: one Indexed Job, which sets that variable itself).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ml.jobs.request import JobRequest
from ml.jobs.spec import TrainingJobSpec

TAIL_LINES = 20
TRIAL_INDEX_ENV = "JOB_COMPLETION_INDEX"
"""The trial a search's job runs (0-based): what Kubernetes sets in each pod of an Indexed Job."""

LogSink = Callable[[str], None]
"""Receives the job's log as it arrives (stderr of the job: progress, warnings, tracebacks)."""


class JobFailedToStart(RuntimeError):
    """The job could not be started (no image, no network, engine refused); the message says what to do."""


@dataclass(frozen=True)
class JobResult:
    name: str
    exit_code: int
    stdout: str
    """What the job printed on stdout: with `--json`, one line of summary."""
    tail: Sequence[str]
    """The last log lines, for the error message of a failed job."""
    reason: str | None = None
    """Why the cluster ended the job, when it did (e.g. `OOMKilled`)."""
    interrupted: bool = False


@dataclass(frozen=True)
class TrialsResult:
    name: str
    failed: Mapping[int, str]
    """Trial index -> why it failed (its exit code or the cluster's reason, and its last log line)."""
    interrupted: bool = False
    error: str | None = None
    """Why the trials as a whole could not run (refused, deadline exceeded), when they could not."""


class JobLauncher(Protocol):
    def preflight(self, spec: TrainingJobSpec) -> None:
        """Raise JobFailedToStart for what would stop the job, before anything is uploaded or created."""

    def run(self, spec: TrainingJobSpec, request: JobRequest, sink: LogSink) -> JobResult:
        """Run to the end (or to Ctrl-C), stream the log to `sink`, remove everything created."""

    def run_trials(
        self, spec: TrainingJobSpec, request: JobRequest, trials: int, parallelism: int, sink: LogSink
    ) -> TrialsResult:
        """Run `request` once per trial index, at most `parallelism` at once; the log lines say which trial."""
