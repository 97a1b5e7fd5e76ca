"""Training step 4, register: a new model version with its tags, the `challenger` alias only when every
gate passed, and the model card on the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml import registry
from ml.spec import DatasetSpec
from ml.train.fit import FittedModel
from ml.train.log_run import data_facts
from ml.train.prepare import PreparedData
from ml.training_config import TrainingConfig

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo


def register(
    tracking_uri: str,
    run_id: str,
    model_info: ModelInfo,
    data: PreparedData,
    spec: DatasetSpec,
    config: TrainingConfig,
    fitted: FittedModel,
    tags: dict[str, str],
) -> str:
    """Register the logged model as a new version of `config.model_name`; returns the version."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name = config.model_name
    version = registry.register_version(client, name, model_info.model_uri, model_info.model_id, run_id, tags)
    challenger = fitted.gates_passed
    if challenger:
        registry.set_challenger(client, name, version)
    card = registry.model_card(
        name=name,
        version=version,
        run_id=run_id,
        task=str(spec.task),
        estimator=config.estimator.kind,
        params=fitted.params,
        metrics=fitted.metrics,
        gates=[g.to_dict() for g in fitted.gates],
        data=data_facts(tags),
        git={"commit": data.git.commit, "dirty": data.git.dirty_tag},
        challenger=challenger,
    )
    mlflow.log_text(card, registry.MODEL_CARD_ARTIFACT)
    return version
