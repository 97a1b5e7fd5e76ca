"""Training step 3, log: what the run records on the tracking server, and the tags its version will carry.

Everything goes out in as few requests as possible (`ml.mlflow_log`): one artifact directory upload (the
held-out rows, the reference profile, the dataset spec, the plots), the model, then parameters, metrics
and tags in one batch, and the dataset lineage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from contract import TAG_GATES, TAG_GATES_PASSED
from ml import mlflow_log, registry
from ml.spec import DatasetSpec
from ml.train.fit import FittedModel
from ml.train.prepare import PreparedData
from ml.training_config import TrainingConfig

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo

DATA_TAG_PREFIX = "data."


def version_tags(data: PreparedData, spec: DatasetSpec, config: TrainingConfig, fitted: FittedModel) -> dict[str, str]:
    """The tags of `contract.VERSION_TAGS`: data, code, seed, task and the gates' verdict."""
    loaded = data.loaded
    tags = {
        "data.uri": loaded.uri,
        "data.sha256": loaded.sha256,
        "data.rows": str(loaded.rows),
        "data.schema": json.dumps(spec.schema_dict(), sort_keys=True),
        "git.commit": data.git.commit,
        "git.dirty": data.git.dirty_tag,
        "seed": str(config.seed),
        "task": str(spec.task),
        "target": spec.target,
        TAG_GATES: json.dumps([g.to_dict() for g in fitted.gates]),
        TAG_GATES_PASSED: str(fitted.gates_passed).lower(),
    }
    return tags


def data_facts(tags: dict[str, str]) -> dict[str, str]:
    """The `data.*` tags without their prefix (`uri`, `sha256`, `rows`, `schema`), for the model card."""
    return {k.removeprefix(DATA_TAG_PREFIX): v for k, v in tags.items() if k.startswith(DATA_TAG_PREFIX)}


def log_run(
    run_id: str,
    data: PreparedData,
    spec: DatasetSpec,
    config: TrainingConfig,
    fitted: FittedModel,
    tags: dict[str, str],
    out: Path,
    fit_seconds: float,
) -> ModelInfo:
    """Log artifacts, model, parameters, metrics, tags and dataset lineage to the active run `run_id`."""
    x_test, y_test = data.x_test, data.y_test
    holdout_x = x_test.sample(n=min(len(x_test), config.max_holdout_rows), random_state=config.seed)
    holdout_y = y_test.loc[holdout_x.index]
    mlflow_log.write_holdout(holdout_x, holdout_y, spec.target, out / registry.HOLDOUT_ARTIFACT)
    (out / registry.PROFILE_ARTIFACT).write_text(json.dumps(fitted.profile))
    (out / registry.SPEC_ARTIFACT).write_text(spec.to_yaml())
    mlflow_log.log_artifact_dir(out)
    # The model goes before the metrics: log_model copies every metric already on the run to the logged
    # model, one history request per metric.
    model_info = mlflow_log.log_sklearn_model(
        fitted.model, data.x_train.head(5), config.model_format, spec.serving_contract()
    )
    params = {
        "estimator": config.estimator.kind,
        "seed": str(config.seed),
        "test_size": str(config.split.test_size),
        "train_rows": str(len(data.x_train)),
        "test_rows": str(len(x_test)),
        "search_trials": str(fitted.trials),
        **mlflow_log.flatten_params("model.", fitted.params),
        **mlflow_log.flatten_params("pkg.", mlflow_log.package_versions()),
    }
    metrics = {f"test_{k}": v for k, v in fitted.metrics.items()} | {"fit_seconds": fit_seconds}
    mlflow_log.log_batch(run_id, params, metrics, tags)
    mlflow_log.log_dataset_input(data.loaded, spec)
    return model_info
