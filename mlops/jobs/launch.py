"""`mlops train` as a job on the environment's training cluster, in named steps:

1. `choose_where`: the flag, else the stack's `mlops:training.where`, else this process.
2. read the stack's job spec and check the config and data here, so a bad config or an unreachable
   dataset is refused before anything starts (exit 2, like in-process training);
3. the launcher's preflight (image, network), then upload a local dataset (once per content hash);
4. write the job's files (config, dataset spec, job context), run the job, stream its log;
5. report: the registered version, or a clear error with the last log lines and what to do.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract import CHALLENGER, TRAINING_WHERE, Outputs, TrainingWhere
from ml.jobs.datasets import DataPlan, DataRefused, LocalFile, plan_for, upload_dataset
from ml.jobs.request import job_args, write_job_files
from ml.jobs.spec import (
    TAG_JOB_DATA_ORIGIN,
    JobSpecError,
    TrainingJobSpec,
    job_context_json,
    job_labels,
    job_name,
    job_tags,
)
from mlops.jobs.docker import DockerLauncher, stderr_sink
from mlops.jobs.job_login import login_for_job
from mlops.jobs.kubernetes import KubernetesLauncher
from mlops.jobs.launcher import JobFailedToStart, JobLauncher, JobRequest, LogSink
from mlops.jobs.search_jobs import JobOutcome, run_trials_step, trials_ended

if TYPE_CHECKING:
    from rich.console import Console

    from ml.training_config import TrainingConfig
    from mlops.stacks import Environment

Where = TrainingWhere
WHERES = TRAINING_WHERE
WHERE_KEY = "where"
"""`mlops:training.where` in a stack file."""
BAD_CONFIG_EXIT = 2
FAILED_TO_START_EXIT = 4
EXIT_MEANINGS = {
    1: "the dataset broke its spec, or the training crashed (the log says which); nothing was registered",
    2: "the config, the dataset spec or the data could not be used",
    3: "a gate failed: registered without the challenger alias",
    137: "killed (out of memory, or stopped from outside)",
}


def choose_where(flag: str | None, training_config: Mapping[str, Any] | None) -> Where:
    """Where to train: `--where` wins, then the stack's `mlops:training.where`, then this process."""
    value = flag or (training_config or {}).get(WHERE_KEY) or "local"
    if value not in WHERES:
        raise ValueError(f"where must be one of {', '.join(WHERES)}, not {value!r}")
    return value


LAUNCHERS: dict[str, Callable[[], JobLauncher]] = {"docker": DockerLauncher, "kubernetes": KubernetesLauncher}
"""The launcher of each target: a locked-down container, or a `batch/v1` Job in the training namespace."""


def launcher_for(spec: TrainingJobSpec) -> JobLauncher:
    if spec.target not in LAUNCHERS:
        raise JobFailedToStart(
            f"no job launcher for target {spec.target!r} yet (known: {', '.join(LAUNCHERS)}); "
            "train in this process with --where local"
        )
    return LAUNCHERS[spec.target]()


def run_training_job(
    environment: Environment,
    config_path: Path,
    console: Console,
    *,
    s3_endpoint: str | None = None,
    launcher: JobLauncher | None = None,
    sink: LogSink | None = None,
    tags: Mapping[str, str] | None = None,
) -> JobOutcome:
    """Train `config_path` as a job of `environment`; never raises for a failure the user can fix.

    `tags`: more lineage for the run and the registered version (a retrain's trigger, `mlops.loop`)."""
    from ml.spec import SpecError
    from ml.training_config import load_config_and_spec

    with tempfile.TemporaryDirectory(prefix="mlops-job-secrets-") as secrets:
        try:
            spec = TrainingJobSpec.from_output(environment.name, environment.outputs.get(Outputs.TRAINING))
            login_env, secret_files = login_for_job(environment.tracking_login, spec, Path(secrets))
            config, dataset = load_config_and_spec(config_path)
            plan = plan_for(dataset)
            launcher = launcher or launcher_for(spec)
            launcher.preflight(spec)
        except (JobSpecError, SpecError, DataRefused, JobFailedToStart) as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False)
            code = FAILED_TO_START_EXIT if isinstance(exc, JobFailedToStart | JobSpecError) else BAD_CONFIG_EXIT
            return JobOutcome(code, None, None)
        # The job's own parts; its files and labels come once they are written.
        name = job_name(spec, config.model_name)
        parts = JobParts(name, job_args(spec, s3_endpoint), login_env, secret_files, dict(tags or {}))
        return _run_job(environment, config, config_path, plan, spec, launcher, parts, console, sink)


@dataclass(frozen=True)
class JobParts:
    name: str
    args: list[str]
    env: dict[str, str]
    secret_files: dict[str, Path]
    tags: dict[str, str] = field(default_factory=dict)


def _run_job(
    environment: Environment,
    config: TrainingConfig,
    config_path: Path,
    plan: DataPlan,
    spec: TrainingJobSpec,
    launcher: JobLauncher,
    parts: JobParts,
    console: Console,
    sink: LogSink | None,
) -> JobOutcome:
    """Upload the data when it is local, write the job's files, run the trials (a search) and the job."""
    from ml.gitinfo import git_info

    name = parts.name
    tags = {**parts.tags, **job_tags(spec, name)}
    data_uri = data_sha256 = None
    if isinstance(plan, LocalFile):
        with console.status(f"uploading {plan.path} to the artifact store of '{environment.name}'"):
            uploaded = upload_dataset(plan.path, environment.tracking_uri)
        verb = "uploaded" if uploaded.uploaded else "already in the artifact store:"
        console.print(f"[dim]-[/dim] {verb} {plan.path.name} as {uploaded.uri} (sha256 {uploaded.sha256[:12]})")
        data_uri, data_sha256 = uploaded.uri, uploaded.sha256
        tags[TAG_JOB_DATA_ORIGIN] = str(plan.path)
    git = git_info(config.base_dir)
    # A search runs its trials as jobs first; their runs carry this job's name, which the final job collects.
    search_id = name if config.search is not None else None
    context = job_context_json(tags, git.commit, git.dirty, data_uri, data_sha256, search_id)

    console.print(
        f"[dim]-[/dim] job {name}: {spec.image} in {spec.where}, "
        f"{spec.limits.cpus:g} CPUs, {spec.limits.memory_mb} MiB",
        highlight=False,
    )
    with tempfile.TemporaryDirectory(prefix="mlops-job-") as tmp:
        files = Path(tmp)
        write_job_files(files, config_path, config.dataset_spec_path(), context)
        request = JobRequest(
            name, parts.args, files, job_labels(spec, name), env=parts.env, secret_files=parts.secret_files
        )
        try:
            if config.search is not None:
                trials = run_trials_step(launcher, spec, request, config.search, console, sink or stderr_sink)
                if trials.interrupted or trials.error:
                    return trials_ended(trials, console)
            result = launcher.run(spec, request, sink or stderr_sink)
        except JobFailedToStart as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False)
            return JobOutcome(FAILED_TO_START_EXIT, None, None)
    return JobOutcome(result.exit_code, parse_summary(result.stdout), result)


def parse_summary(stdout: str) -> dict[str, Any] | None:
    """The job's `--json` summary: its last stdout line that is a JSON object."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def report(outcome: JobOutcome, console: Console, *, env: str, config_path: Path, as_json: bool) -> None:
    """What the operator sees at the end: the version, or the error, the job's last lines and what to do."""
    result, summary = outcome.result, outcome.summary
    if result is None:
        return
    if result.interrupted:
        console.print(f"[yellow]stopped:[/yellow] job {result.name} was interrupted; it is removed")
        return
    if summary is not None and outcome.exit_code in (0, 3):
        if as_json:
            print(json.dumps(summary))
            return
        from rich.console import Console

        alias = CHALLENGER if summary.get("challenger") else "no alias: a gate failed"
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in (summary.get("metrics") or {}).items())
        Console().print(  # stdout, like the in-process summary; the job's log went to stderr
            f"[bold]{summary['model_name']}[/bold] version [bold]{summary['version']}[/bold] ({alias}), "
            f"run {summary['run_id']}, job {result.name}\n{metrics}",
            highlight=False,
        )
        return
    meaning = EXIT_MEANINGS.get(outcome.exit_code, "the training crashed")
    if result.reason == "OOMKilled":
        meaning = "killed for using more memory than the stack allows (mlops:training.memoryMb)"
    elif result.reason:
        meaning = f"{meaning}; the cluster says: {result.reason}"
    console.print(f"[red]error:[/red] training job {result.name} failed with exit code {outcome.exit_code}: {meaning}")
    console.print("its last log lines:", style="dim")
    for line in result.tail:
        console.print(f"  | {line}", highlight=False, markup=False)
    console.print(
        f"what to do: fix what the log names and run again; to debug in this process run "
        f"`mlops train --env {env} --config {config_path} --where local`",
        highlight=False,
    )


def where_for(env: str | None, flag: str | None) -> Where:
    """`--where`, else the stack's `mlops:training.where` when `--env` is given, else this process.

    Raises ValueError for an unknown value or `--where cluster` without an environment."""
    if flag is None and env is None:
        return "local"
    if env is None:
        if choose_where(flag, None) == "cluster":
            raise ValueError("--where cluster needs --env NAME: the job runs on that environment's training cluster")
        return "local"
    from mlops.stacks import stack_config

    section = stack_config(env).get("training")
    return choose_where(flag, section if isinstance(section, Mapping) else None)


def train_as_job(env: str, config_path: Path, *, s3_endpoint: str | None = None, as_json: bool = False) -> int:
    """`mlops train --env ENV` on the training cluster: the job's exit code (4: the job could not start)."""
    from rich.console import Console

    from mlops.stacks import EnvironmentUnavailable, resolve

    console = Console(stderr=True)
    try:
        with console.status(f"reading environment '{env}'"):
            environment = resolve(env)
    except EnvironmentUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return FAILED_TO_START_EXIT
    outcome = run_training_job(environment, config_path, console, s3_endpoint=s3_endpoint)
    report(outcome, console, env=env, config_path=config_path, as_json=as_json)
    return outcome.exit_code
