"""A small random hyperparameter search; each trial is a nested MLflow run scored by cross-validation.

The trials are a pure function of the config: `candidates(config)[i]` is trial i's parameters, drawn
from the seed, so a trial run as a job on its own (`ml.train.trials`, an Indexed Job's pod reading its
index) scores exactly what the same trial scores in-process, and the same best trial wins. A trial that
fails (scikit-learn refusing a sampled value, say) is recorded (its nested run FAILED with the error) and
the search goes on with the others; only a search whose every trial failed stops the training.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml.spec import SpecError

if TYPE_CHECKING:
    import pandas as pd

    from ml.spec import DatasetSpec
    from ml.training_config import TrainingConfig

log = logging.getLogger(__name__)

TAG_ERROR = "error"
"""On a failed trial's run: what went wrong."""
TAG_FAILED_TRIALS = "search.failed_trials"
"""On the parent run: JSON `{trial number: error}` of the trials that failed (`{}` when none did)."""
ERROR_CHARS = 500


@dataclass(frozen=True)
class Trial:
    params: dict[str, Any]
    score: float
    run_id: str
    number: int = 0
    """1-based, as the trial's run is named (`trial-N`)."""


def check_search(config: TrainingConfig) -> None:
    from sklearn.metrics import get_scorer_names

    if config.search is not None and config.search.metric not in get_scorer_names():
        raise SpecError(
            f"search.metric {config.search.metric!r} is not a scikit-learn scorer name (e.g. roc_auc, f1, r2)"
        )


def candidates(config: TrainingConfig) -> list[dict[str, Any]]:
    """Every trial's estimator parameters, in trial order: the config's, overridden by the sampled ones."""
    from sklearn.model_selection import ParameterSampler

    search = config.search
    if search is None:
        return []
    sampler = ParameterSampler(search.params, n_iter=search.trials, random_state=config.seed)
    return [{**config.estimator.params, **sampled} for sampled in sampler]


def score_params(
    spec: DatasetSpec, config: TrainingConfig, params: Mapping[str, Any], features: pd.DataFrame, target: pd.Series
) -> tuple[float, float]:
    """Mean and standard deviation of the cross-validated `search.metric` of these parameters."""
    from sklearn.model_selection import cross_val_score

    from ml.estimators import build_pipeline

    assert config.search is not None
    pipeline = build_pipeline(spec, config, dict(params))
    # error_score="raise": a fit that fails fails the trial with its own error, not a NaN score.
    scores = cross_val_score(
        pipeline, features, target, cv=config.search.cv, scoring=config.search.metric, error_score="raise"
    )
    return float(scores.mean()), float(scores.std())


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]


def log_trial(config: TrainingConfig, params: Mapping[str, Any], scores: tuple[float, float] | None) -> None:
    """Parameters and (when it did not fail) the CV score of the active trial run."""
    import mlflow

    assert config.search is not None
    mlflow.log_params({f"model.{k}": v for k, v in params.items()})
    if scores is not None:
        metric = config.search.metric
        mlflow.log_metrics({f"cv_{metric}": scores[0], f"cv_{metric}_std": scores[1]})


def best_of(trials: list[Trial], failures: Mapping[int, str], config: TrainingConfig) -> Trial:
    """The best trial (the first of equals, in trial order); SpecError when every trial failed."""
    if not trials:
        detail = "; ".join(f"trial {n}: {why}" for n, why in sorted(failures.items()))
        raise SpecError(f"every trial of the search failed, so nothing can be trained: {detail}")
    best = max(sorted(trials, key=lambda t: t.number), key=lambda t: t.score)
    assert config.search is not None
    log.info("best trial %s: %s=%.4f", best.number, config.search.metric, best.score)
    return best


def record_failures(failures: Mapping[int, str]) -> None:
    """The failed trials and their errors, on the active (parent) run."""
    import mlflow

    mlflow.set_tag(TAG_FAILED_TRIALS, json.dumps({str(n): why for n, why in sorted(failures.items())}))


def run_search(
    spec: DatasetSpec,
    config: TrainingConfig,
    features: pd.DataFrame,
    target: pd.Series,
    progress: Callable[[str], None],
) -> tuple[dict[str, Any], list[Trial]]:
    """Return the best estimator params (config params overridden by the best trial) and all trials.

    Must be called inside an active MLflow run: trials become its children.
    """
    import mlflow

    search = config.search
    if search is None:
        return dict(config.estimator.params), []
    check_search(config)
    trials: list[Trial] = []
    failures: dict[int, str] = {}
    options = candidates(config)
    for number, params in enumerate(options, start=1):
        child = mlflow.start_run(run_name=f"trial-{number}", nested=True)
        try:
            scores: tuple[float, float] | None = score_params(spec, config, params, features, target)
        except Exception as exc:  # a sampled value the estimator refuses: recorded, the others go on
            scores, failures[number] = None, error_text(exc)
            mlflow.set_tag(TAG_ERROR, failures[number])
        except BaseException:
            mlflow.end_run("KILLED")
            raise
        log_trial(config, params, scores)
        mlflow.end_run("FINISHED" if scores else "FAILED")
        if scores is None:
            progress(f"trial {number}/{len(options)} failed: {failures[number]}")
            continue
        trials.append(Trial(params, scores[0], child.info.run_id, number))
        progress(f"trial {number}/{len(options)}: cv {search.metric}={scores[0]:.4f} with {params}")
    record_failures(failures)
    best = best_of(trials, failures, config)
    return best.params, trials
