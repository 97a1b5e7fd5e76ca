"""A config's search as jobs: the trials in parallel first, then the one job that trains and registers the best.

The trials are `python -m ml.train --trial` (`ml.train.trials`), one per index of the search, at most
`search.parallelism` at once (kubernetes: one Indexed Job, its parallelism lowered to what the training
quota holds; docker: containers). A failed trial is told here and recorded on the final job's run; the
final job runs whatever the trials did, unless they were stopped (Ctrl-C) or the cluster ended them all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ml.jobs.spec import LABEL_JOB, TrainingJobSpec
from mlops.jobs.launcher import JobLauncher, JobRequest, JobResult, LogSink, TrialsResult

if TYPE_CHECKING:
    from rich.console import Console

    from ml.training_config import SearchConfig

TRIALS_SUFFIX = "-trials"
INTERRUPTED_EXIT = 130
TRIALS_FAILED_EXIT = 1


@dataclass(frozen=True)
class JobOutcome:
    exit_code: int
    summary: dict[str, Any] | None
    result: JobResult | None


def trials_request(request: JobRequest) -> JobRequest:
    name = request.name + TRIALS_SUFFIX
    return replace(request, name=name, args=[*request.args, "--trial"], labels={**request.labels, LABEL_JOB: name})


def parallelism_for(launcher: JobLauncher, spec: TrainingJobSpec, search: SearchConfig, console: Console) -> int:
    """The config's parallelism, lowered to the number of trial pods the training quota holds at once."""
    wanted = min(search.parallelism, search.trials)
    fitting = getattr(launcher, "fitting_pods", None)
    fits = fitting(spec) if callable(fitting) else None
    if isinstance(fits, int) and 0 < fits < wanted:
        console.print(
            f"[yellow]note:[/yellow] search.parallelism {wanted} lowered to {fits}: the training quota holds "
            f"{fits} trial pods at once (mlops:kubernetes.training.quota)",
            highlight=False,
        )
        return fits
    return wanted


def run_trials_step(
    launcher: JobLauncher,
    spec: TrainingJobSpec,
    request: JobRequest,
    search: SearchConfig,
    console: Console,
    sink: LogSink,
) -> TrialsResult:
    parallelism = parallelism_for(launcher, spec, search, console)
    trials = trials_request(request)
    console.print(f"[dim]-[/dim] search: {search.trials} trials as jobs, {parallelism} at once", highlight=False)
    result = launcher.run_trials(spec, trials, search.trials, parallelism, sink)
    for index, why in sorted(result.failed.items()):
        console.print(f"[yellow]trial {index + 1} failed:[/yellow] {why}", highlight=False, markup=True)
    if not (result.interrupted or result.error):
        done = search.trials - len(result.failed)
        console.print(f"[dim]-[/dim] trials done: {done} of {search.trials} scored; training the best", highlight=False)
    return result


def trials_ended(result: TrialsResult, console: Console) -> JobOutcome:
    """The outcome when the trials could not all run: stopped, or ended by the cluster."""
    if result.interrupted:
        ended = JobResult(result.name, INTERRUPTED_EXIT, "", [], "interrupted", interrupted=True)
        return JobOutcome(INTERRUPTED_EXIT, None, ended)
    console.print(f"[red]error:[/red] the trials of {result.name} ended early: {result.error}", highlight=False)
    console.print(
        "what to do: raise mlops:kubernetes.training.activeDeadlineSeconds, or lower search.trials, or raise "
        "search.parallelism within the quota",
        highlight=False,
    )
    return JobOutcome(TRIALS_FAILED_EXIT, None, None)
