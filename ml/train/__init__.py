"""Train: from a dataset spec and a training config to a tracked, evaluated, gated and registered model.

``run_training`` is the one entry point (``mlops train``, ``python -m ml.train`` in the trainer image,
monitoring's retrain and the demo call it). It runs four named steps, in this order on purpose:

1. ``prepare``: check the config, load and validate the data, split it. Before anything touches MLflow,
   so a failing dataset leaves no run and no model version behind.
2. ``fit``: search, fit, evaluate on the held-out rows, run the gates, build the reference profile.
3. ``log_run``: artifacts, model, parameters, metrics, tags and dataset lineage on the run.
4. ``register``: a new model version; the ``challenger`` alias only when every gate passed.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract import CHALLENGER, ModelRef
from ml import mlflow_log
from ml.data import LoadedData
from ml.gates import GateResult
from ml.search import Trial, best_of, record_failures
from ml.spec import DatasetSpec
from ml.train.fit import fit_and_evaluate
from ml.train.job import JobContext
from ml.train.log_run import log_run, version_tags
from ml.train.prepare import prepare
from ml.train.register import register
from ml.train.timing import PhaseTimer
from ml.train.trials import adopt, collect_trials
from ml.training_config import TrainingConfig

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    run_id: str
    model_name: str
    version: str
    metrics: dict[str, float]
    gates: list[GateResult]
    gates_passed: bool
    challenger: bool
    data_sha256: str
    data_rows: int
    params: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def model_uri(self) -> str:
        return ModelRef.pinned(self.model_name, self.version).uri


def _searched_as_jobs(
    config: TrainingConfig, job: JobContext | None, run_id: str, say: Callable[[str], None]
) -> tuple[dict[str, Any], list[Trial]] | None:
    """The final job of a search run as jobs: its trials' runs become this run's children, the failed
    ones are recorded here, and the best one's parameters are trained; None when no trial jobs ran."""
    if job is None or not job.search_id or config.search is None:
        return None
    collected = collect_trials(config, job.search_id)
    adopt(run_id, collected)
    record_failures(collected.failures)
    best = best_of(collected.trials, collected.failures, config)
    say(
        f"search: {len(collected.trials)} of {len(collected.trials) + len(collected.failures)} trials scored, "
        f"best trial {best.number}: cv {config.search.metric}={best.score:.4f}"
    )
    return best.params, collected.trials


def run_training(
    config: TrainingConfig,
    spec: DatasetSpec,
    tracking_uri: str,
    *,
    s3_endpoint: str | None = None,
    data: LoadedData | None = None,
    progress: Callable[[str], None] | None = None,
    job: JobContext | None = None,
) -> TrainingResult:
    """Validate, fit, evaluate, gate, track and register. Raises DataValidationError on bad data.

    `job`: set when this runs as a job on a training cluster (`ml.train.job`)."""
    import mlflow

    say = progress or log.info
    timer = PhaseTimer()
    git = job.git if job else None
    prepared = prepare(config, spec, say=say, timer=timer, s3_endpoint=s3_endpoint, data=data, git=git)
    with mlflow_log.tracking_to(tracking_uri), tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp:
        out = Path(tmp)
        with timer.phase("tracking"):
            mlflow.set_experiment(config.experiment_name)
            run = mlflow.start_run(run_name=f"{config.model_name}-{config.estimator.kind}")
        with run:
            run_id = run.info.run_id
            say(f"run {run_id} on {tracking_uri}")
            searched = _searched_as_jobs(config, job, run_id, say)
            fitted = fit_and_evaluate(prepared, spec, config, out / "plots", say=say, timer=timer, searched=searched)
            tags = version_tags(prepared, spec, config, fitted) | (job.tags if job else {})
            with timer.phase("tracking"):
                model_info = log_run(run_id, prepared, spec, config, fitted, tags, out, timer.timings["fit"])
            with timer.phase("register"):
                version = register(tracking_uri, run_id, model_info, prepared, spec, config, fitted, tags)
            log.debug("plots written: %s", [p.name for p in fitted.plots])
    passed = fitted.gates_passed
    say(f"registered {config.model_name} version {version}" + (f" as {CHALLENGER}" if passed else ""))
    return TrainingResult(
        run_id=run_id,
        model_name=config.model_name,
        version=version,
        metrics=fitted.metrics,
        gates=fitted.gates,
        gates_passed=passed,
        challenger=passed,
        data_sha256=prepared.loaded.sha256,
        data_rows=prepared.loaded.rows,
        params=fitted.params,
        timings=dict(timer.timings),
    )
