"""Training step 2, fit and evaluate: search, fit, score on the held-out rows, run the gates, profile.

Runs inside the training's MLflow run: the search logs each trial as a nested run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml import evaluate
from ml.estimators import build_pipeline
from ml.gates import GateResult, gates_passed, run_gates
from ml.profile import build_reference_profile
from ml.search import Trial, run_search
from ml.spec import DatasetSpec
from ml.train.prepare import PreparedData
from ml.train.timing import PhaseTimer
from ml.training_config import TrainingConfig


@dataclass(frozen=True)
class FittedModel:
    """A fitted pipeline and everything measured about it on the held-out rows."""

    model: Any
    params: dict[str, Any]
    trials: int
    metrics: dict[str, float]
    gates: list[GateResult]
    profile: dict[str, Any]
    plots: list[Path]

    @property
    def gates_passed(self) -> bool:
        return gates_passed(self.gates)


def fit_and_evaluate(
    data: PreparedData,
    spec: DatasetSpec,
    config: TrainingConfig,
    plots_dir: Path,
    *,
    say: Callable[[str], None],
    timer: PhaseTimer,
    searched: tuple[dict[str, Any], list[Trial]] | None = None,
) -> FittedModel:
    """`searched`: the best parameters and the trials of a search that ran as jobs (`ml.train.trials`)."""
    with timer.phase("search"):
        params, trials = searched or run_search(spec, config, data.x_train, data.y_train, say)
    say(f"fitting {config.estimator.kind} on {len(data.x_train)} rows")
    model = build_pipeline(spec, config, params)
    with timer.phase("fit"):
        model.fit(data.x_train, data.y_train)
    x_test, y_test = data.x_test, data.y_test
    with timer.phase("evaluate"):
        predictions = evaluate.predict(model, x_test, spec.task)
        metrics = evaluate.metrics_of(predictions, y_test, spec.task)
        gates = run_gates(model, x_test, y_test, spec, config.gates, metrics, config.seed, predictions)
        plots = evaluate.write_plots(predictions, y_test, spec.task, plots_dir, config.seed)
        # The held-out rows, not the training rows: predictions on rows the model was fitted on are
        # more confident than anything it will see live, and would read as drift.
        profile = build_reference_profile(x_test, predictions.frame(spec.task, x_test.index), spec)
    fitted = FittedModel(model, params, len(trials), metrics, gates, profile, plots)
    say("metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    say(
        f"gates {'passed' if fitted.gates_passed else 'FAILED'}: "
        + ", ".join(f"{g.name}={'ok' if g.passed else 'fail'}" for g in gates)
    )
    return fitted
