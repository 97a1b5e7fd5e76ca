"""A small random hyperparameter search; each trial is a nested MLflow run scored by cross-validation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml.spec import SpecError

if TYPE_CHECKING:
    import pandas as pd

    from ml.spec import DatasetSpec
    from ml.training_config import TrainingConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trial:
    params: dict[str, Any]
    score: float
    run_id: str


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
    from sklearn.metrics import get_scorer_names
    from sklearn.model_selection import ParameterSampler, cross_val_score

    from ml.estimators import build_pipeline

    search = config.search
    if search is None:
        return dict(config.estimator.params), []
    if search.metric not in get_scorer_names():
        raise SpecError(f"search.metric {search.metric!r} is not a scikit-learn scorer name (e.g. roc_auc, f1, r2)")
    sampler = ParameterSampler(search.params, n_iter=search.trials, random_state=config.seed)
    trials: list[Trial] = []
    candidates = list(sampler)
    for index, sampled in enumerate(candidates, start=1):
        params = {**config.estimator.params, **sampled}
        pipeline = build_pipeline(spec, config, params)
        with mlflow.start_run(run_name=f"trial-{index}", nested=True) as child:
            scores = cross_val_score(pipeline, features, target, cv=search.cv, scoring=search.metric)
            score = float(scores.mean())
            mlflow.log_params({f"model.{k}": v for k, v in params.items()})
            mlflow.log_metrics({f"cv_{search.metric}": score, f"cv_{search.metric}_std": float(scores.std())})
            trials.append(Trial(params, score, child.info.run_id))
        progress(f"trial {index}/{len(candidates)}: cv {search.metric}={score:.4f} with {sampled}")
    best = max(trials, key=lambda t: t.score)
    log.info("best trial %s: %s=%.4f", best.run_id, search.metric, best.score)
    return best.params, trials
