"""A search's trials as jobs: one trial per job, then one final training that collects them.

`python -m ml.train --trial --job FILE` scores trial `JOB_COMPLETION_INDEX` (what Kubernetes sets in each
pod of an Indexed Job; the docker launcher sets it too) of the config's search: the same data, split and
`ml.search.candidates` as in-process, so the same scores. Its run carries the search's id (the job
context's `search_id`) and its number. The final job (`--job FILE` alone) finds them, makes them the
children of its own run, records the failed ones there, and trains and registers the best, once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ml import mlflow_log
from ml.search import TAG_ERROR, Trial, candidates, check_search, error_text, log_trial, score_params
from ml.spec import DatasetSpec, SpecError
from ml.train.job import JobContext
from ml.train.prepare import prepare
from ml.train.timing import PhaseTimer
from ml.training_config import TrainingConfig

TRIAL_INDEX_ENV = "JOB_COMPLETION_INDEX"
TAG_SEARCH_ID = "search.id"
TAG_TRIAL = "search.trial"
PARENT_TAG = "mlflow.parentRunId"
NO_RESULT = "no result: the trial's job ended before it recorded one (its log says why)"


def trial_index(total: int) -> int:
    raw = os.environ.get(TRIAL_INDEX_ENV, "")
    if not raw.isdigit() or int(raw) >= total:
        raise SpecError(f"{TRIAL_INDEX_ENV}={raw!r} is not a trial of this search (0 to {total - 1})")
    return int(raw)


def experiment_id(name: str) -> str:
    """The experiment's id, created if missing; trials starting together may race to create it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    for _ in range(3):
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(client.create_experiment(name))
        except MlflowException:
            continue  # another trial created it meanwhile
    raise RuntimeError(f"cannot create or find experiment {name!r}")


def run_trial(
    config: TrainingConfig,
    spec: DatasetSpec,
    tracking_uri: str,
    job: JobContext,
    *,
    say: Callable[[str], None],
    s3_endpoint: str | None = None,
) -> bool:
    """Score one trial and record it; False when the trial failed (recorded on its run, FAILED)."""
    import mlflow

    if config.search is None or not job.search_id:
        raise SpecError("--trial needs a config with a search section and a job context with a search_id")
    check_search(config)
    options = candidates(config)
    index = trial_index(len(options))
    number, params = index + 1, options[index]
    data = job.fetch_data(spec, tracking_uri)
    prepared = prepare(config, spec, say=say, timer=PhaseTimer(), s3_endpoint=s3_endpoint, data=data, git=job.git)
    with mlflow_log.tracking_to(tracking_uri):
        tags = {**job.tags, TAG_SEARCH_ID: job.search_id, TAG_TRIAL: str(number)}
        mlflow.start_run(experiment_id=experiment_id(config.experiment_name), run_name=f"trial-{number}", tags=tags)
        try:
            scores: tuple[float, float] | None = score_params(spec, config, params, prepared.x_train, prepared.y_train)
        except Exception as exc:  # recorded on the run; the final step records it on the parent
            scores = None
            mlflow.set_tag(TAG_ERROR, error_text(exc))
            say(f"trial {number}/{len(options)} failed: {error_text(exc)}")
        except BaseException:
            mlflow.end_run("KILLED")
            raise
        log_trial(config, params, scores)
        mlflow.end_run("FINISHED" if scores else "FAILED")
    if scores is not None:
        say(f"trial {number}/{len(options)}: cv {config.search.metric}={scores[0]:.4f} with {params}")
    return scores is not None


@dataclass
class CollectedTrials:
    trials: list[Trial] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)


def collect_trials(config: TrainingConfig, search_id: str) -> CollectedTrials:
    """Every trial of the search by number: its latest finished run, else why it failed. Needs an active
    tracking URI (inside `run_training`)."""
    from mlflow import MlflowClient

    assert config.search is not None
    client = MlflowClient()
    found = client.search_runs(
        [experiment_id(config.experiment_name)],
        filter_string=f"tags.`{TAG_SEARCH_ID}` = '{search_id}'",
        max_results=1000,
        order_by=["attributes.start_time ASC"],
    )
    metric = f"cv_{config.search.metric}"
    options = candidates(config)
    collected = CollectedTrials()
    for number, params in enumerate(options, start=1):
        runs = [r for r in found if r.data.tags.get(TAG_TRIAL) == str(number)]
        collected.run_ids += [r.info.run_id for r in runs]
        done = [r for r in runs if r.info.status == "FINISHED" and metric in r.data.metrics]
        if done:
            collected.trials.append(Trial(params, float(done[-1].data.metrics[metric]), done[-1].info.run_id, number))
        elif runs:
            collected.failures[number] = runs[-1].data.tags.get(TAG_ERROR) or f"run {runs[-1].info.status}"
        else:
            collected.failures[number] = NO_RESULT
    return collected


def adopt(parent_run_id: str, collected: CollectedTrials) -> None:
    """The trials' runs become children of the final training's run, as in-process trials are."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for run_id in collected.run_ids:
        client.set_tag(run_id, PARENT_TAG, parent_run_id)
