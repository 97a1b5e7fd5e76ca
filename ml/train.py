"""Train: from a dataset spec and a training config to a tracked, evaluated, gated and registered model.

``run_training`` is the one entry point (the CLI, monitoring's retrain and the demo call it). The order
is deliberate: validate the data before anything touches MLflow, so a failing dataset leaves no run and
no model version behind.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.data import LoadedData, load_dataset
from ml.gates import GateResult, check_config, gates_passed, run_gates
from ml.spec import DatasetSpec
from ml.training_config import TrainingConfig
from ml.validate import DataValidationError, validate_frame
from contract import TAG_GATES_PASSED

if TYPE_CHECKING:
    import pandas as pd

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
        return f"models:/{self.model_name}/{self.version}"


@dataclass
class _Timer:
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def _split(features: pd.DataFrame, target: pd.Series, spec: DatasetSpec, config: TrainingConfig) -> tuple:
    from sklearn.model_selection import train_test_split

    stratify = target if spec.task.is_classification and config.split.stratify else None
    return train_test_split(
        features, target, test_size=config.split.test_size, random_state=config.seed, stratify=stratify
    )


def run_training(
    config: TrainingConfig,
    spec: DatasetSpec,
    tracking_uri: str,
    *,
    s3_endpoint: str | None = None,
    data: LoadedData | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Validate, fit, evaluate, gate, track and register. Raises DataValidationError on bad data."""
    import mlflow

    from ml import evaluate, registry, tracking
    from ml.estimators import build_pipeline
    from ml.features import prepare_features
    from ml.gitinfo import git_info
    from ml.profile import build_reference_profile
    from ml.search import run_search

    say = progress or log.info
    timer = _Timer()
    config.check_task(spec)
    check_config(config.gates, spec)
    with timer.phase("load"):
        say(f"reading {spec.source.uri}")
        loaded = data or load_dataset(spec, s3_endpoint)
    with timer.phase("validate"):
        report = validate_frame(loaded.frame, spec)
    if not report.ok:
        raise DataValidationError(report)
    say(f"data ok: {loaded.rows} rows, sha256 {loaded.sha256[:12]}")
    features = prepare_features(loaded.frame, spec)
    x_train, x_test, y_train, y_test = _split(features, loaded.frame[spec.target], spec, config)
    git = git_info(config.base_dir)

    with tracking.tracking_to(tracking_uri), tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp:
        out = Path(tmp)
        with timer.phase("tracking"):
            mlflow.set_experiment(config.experiment_name)
            run = mlflow.start_run(run_name=f"{config.model_name}-{config.estimator.kind}")
        with run:
            run_id = run.info.run_id
            say(f"run {run_id} on {tracking_uri}")
            with timer.phase("search"):
                params, trials = run_search(spec, config, x_train, y_train, say)
            say(f"fitting {config.estimator.kind} on {len(x_train)} rows")
            model = build_pipeline(spec, config, params)
            with timer.phase("fit"):
                model.fit(x_train, y_train)
            with timer.phase("evaluate"):
                predictions = evaluate.predict(model, x_test, spec.task)
                metrics = evaluate.metrics_of(predictions, y_test, spec.task)
                gate_results = run_gates(model, x_test, y_test, spec, config.gates, metrics, config.seed, predictions)
                plots = evaluate.write_plots(predictions, y_test, spec.task, out / "plots", config.seed)
                # The held-out rows, not the training rows: predictions on rows the model was fitted on are
                # more confident than anything it will see live, and would read as drift.
                profile = build_reference_profile(x_test, predictions.frame(spec.task, x_test.index), spec)
            passed = gates_passed(gate_results)
            say("metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
            say(
                f"gates {'passed' if passed else 'FAILED'}: "
                + ", ".join(f"{g.name}={'ok' if g.passed else 'fail'}" for g in gate_results)
            )
            gates_json = json.dumps([g.to_dict() for g in gate_results])
            data_tags = {
                "data.uri": loaded.uri,
                "data.sha256": loaded.sha256,
                "data.rows": str(loaded.rows),
                "data.schema": json.dumps(spec.schema_dict(), sort_keys=True),
            }
            version_tags = {
                **data_tags,
                "git.commit": git.commit,
                "git.dirty": git.dirty_tag,
                "seed": str(config.seed),
                "task": str(spec.task),
                "target": spec.target,
                "gates": gates_json,
                TAG_GATES_PASSED: str(passed).lower(),
            }
            with timer.phase("tracking"):
                holdout_x = x_test.sample(n=min(len(x_test), config.max_holdout_rows), random_state=config.seed)
                holdout_y = y_test.loc[holdout_x.index]
                tracking.write_holdout(holdout_x, holdout_y, spec.target, out / registry.HOLDOUT_ARTIFACT)
                (out / registry.PROFILE_ARTIFACT).write_text(json.dumps(profile))
                (out / registry.SPEC_ARTIFACT).write_text(spec.to_yaml())
                tracking.log_artifact_dir(out)
                # The model goes before the metrics: log_model copies every metric already on the run to
                # the logged model, one history request per metric.
                model_info = tracking.log_sklearn_model(model, x_train.head(5), config.model_format)
                run_params = {
                    "estimator": config.estimator.kind,
                    "seed": str(config.seed),
                    "test_size": str(config.split.test_size),
                    "train_rows": str(len(x_train)),
                    "test_rows": str(len(x_test)),
                    "search_trials": str(len(trials)),
                    **tracking.flatten_params("model.", params),
                    **tracking.flatten_params("pkg.", tracking.package_versions()),
                }
                tracking.log_batch(
                    run_id,
                    run_params,
                    {f"test_{k}": v for k, v in metrics.items()} | {"fit_seconds": timer.timings["fit"]},
                    version_tags,
                )
                tracking.log_dataset_input(loaded, spec)
            with timer.phase("register"):
                client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
                version = registry.register_version(
                    client, config.model_name, model_info.model_uri, model_info.model_id, run_id, version_tags
                )
                if passed:
                    registry.set_challenger(client, config.model_name, version)
                card = registry.model_card(
                    name=config.model_name,
                    version=version,
                    run_id=run_id,
                    task=str(spec.task),
                    estimator=config.estimator.kind,
                    params=params,
                    metrics=metrics,
                    gates=[g.to_dict() for g in gate_results],
                    data={**{k.removeprefix("data."): v for k, v in data_tags.items()}},
                    git={"commit": git.commit, "dirty": git.dirty_tag},
                    challenger=passed,
                )
                mlflow.log_text(card, registry.MODEL_CARD_ARTIFACT)
            log.debug("plots written: %s", [p.name for p in plots])
    say(f"registered {config.model_name} version {version}" + (" as challenger" if passed else ""))
    return TrainingResult(
        run_id=run_id,
        model_name=config.model_name,
        version=version,
        metrics=metrics,
        gates=gate_results,
        gates_passed=passed,
        challenger=passed,
        data_sha256=loaded.sha256,
        data_rows=loaded.rows,
        params=params,
        timings=dict(timer.timings),
    )
