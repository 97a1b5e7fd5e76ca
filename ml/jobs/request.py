"""What one training job is, whoever launches it: its name, the arguments of `python -m ml.train`, the files it
reads at JOB_DIR (training config, dataset spec, job context), its labels and plain environment.

`mlops train` builds one on the operator's machine (`mlops.jobs.launch`); the scheduled monitor builds one in
its pod to retrain (`ml.jobs.scheduled`). Both write the same files and pass the same arguments, so a
retrain started by a schedule is the job an operator would have started.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ml.jobs.spec import TrainingJobSpec

SECRETS_DIR = "/run/mlops-secrets"
"""Where a job finds its secret files (the tracking password: `contract.TRACKING_PASSWORD_FILE`), read-only."""
JOB_DIR = "/job"
"""Where the job finds its files (training config, dataset spec, job context), read-only."""
SCRATCH_DIR = "/work"
"""The job's working directory, HOME and TMPDIR: a writable volume of its own (downloads and model files can be
large); the root filesystem is read-only."""
TMPFS = {"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"}
"""docker: the small tmpfs a job gets at /tmp."""
CONFIG_FILE = "train.yaml"
SPEC_FILE = "dataset.yaml"
CONTEXT_FILE = "job.json"


def scratch_env() -> dict[str, str]:
    """The environment that points a job's writes at SCRATCH_DIR, on every target."""
    return {"HOME": SCRATCH_DIR, "TMPDIR": SCRATCH_DIR, "MPLCONFIGDIR": f"{SCRATCH_DIR}/.matplotlib"}


@dataclass(frozen=True)
class JobRequest:
    name: str
    args: Sequence[str]
    """Arguments of the trainer image's entry point, `python -m ml.train`."""
    files: Path
    """A host directory mounted read-only at JOB_DIR."""
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    """Plain, non-secret environment variables of the job."""
    secret_files: Mapping[str, Path] = field(default_factory=dict)
    """File name -> host file, mounted read-only under SECRETS_DIR (docker; a Kubernetes Job mounts the
    stack's Secrets instead)."""


def job_args(spec: TrainingJobSpec, s3_endpoint: str | None) -> list[str]:
    """Arguments of `python -m ml.train` inside the job: the stack's internal tracking URI, JSON summary."""
    args = ["--config", f"{JOB_DIR}/{CONFIG_FILE}", "--tracking-uri", spec.tracking_uri, "--json"]
    args += ["--job", f"{JOB_DIR}/{CONTEXT_FILE}"]
    if s3_endpoint:
        args += ["--s3-endpoint", s3_endpoint]
    return args


def write_job_files(directory: Path, config_path: Path, spec_path: Path, context_json: str) -> None:
    """The config (its `dataset:` pointing at the copied spec), the spec as written, the job context.

    Readable by the job's non-root user: the directory is mounted read-only into the container."""
    raw = yaml.safe_load(config_path.read_text()) or {}
    raw["dataset"] = SPEC_FILE
    (directory / CONFIG_FILE).write_text(yaml.safe_dump(raw, sort_keys=False))
    (directory / SPEC_FILE).write_text(spec_path.read_text())
    (directory / CONTEXT_FILE).write_text(context_json)
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)
