"""Training config: which dataset, which estimator with which hyperparameters, which split, which gates.

Like the dataset spec, the config is strict YAML and every error names the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ml.gates import GatesConfig
from ml.spec import DatasetSpec, SpecError, format_validation_error, load_dataset_spec, read_yaml_mapping

CLASSIFIERS = ("logistic_regression", "random_forest", "gradient_boosting")
REGRESSORS = ("linear_regression", "ridge", "random_forest_regressor", "gradient_boosting_regressor")
EstimatorKind = Literal[
    "logistic_regression",
    "random_forest",
    "gradient_boosting",
    "linear_regression",
    "ridge",
    "random_forest_regressor",
    "gradient_boosting_regressor",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EstimatorConfig(_Strict):
    kind: EstimatorKind
    params: dict[str, Any] = Field(default_factory=dict)


class SplitConfig(_Strict):
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    stratify: bool = True


class FeaturesConfig(_Strict):
    clip_quantiles: tuple[float, float] | None = None
    scale_numeric: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> FeaturesConfig:
        if self.clip_quantiles is not None:
            low, high = self.clip_quantiles
            if not 0.0 <= low < high <= 1.0:
                raise ValueError("clip_quantiles must be [low, high] with 0 <= low < high <= 1")
        return self


class SearchConfig(_Strict):
    """A small random search; each trial is a nested MLflow run scored by cross-validation."""

    params: dict[str, list[Any]] = Field(min_length=1)
    trials: int = Field(default=4, ge=1, le=50)
    cv: int = Field(default=3, ge=2, le=10)
    metric: str = "roc_auc"
    parallelism: int = Field(default=1, ge=1, le=50)
    """Trials run at once when the training is a job (`mlops train --where cluster`): kubernetes, one Indexed
    Job's pods; docker, containers. In-process training runs them one after the other."""


class TrainingConfig(_Strict):
    dataset: str = Field(min_length=1)
    model_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    experiment: str | None = None
    seed: int = 42
    estimator: EstimatorConfig
    split: SplitConfig = SplitConfig()
    features: FeaturesConfig = FeaturesConfig()
    search: SearchConfig | None = None
    gates: GatesConfig = GatesConfig()
    max_holdout_rows: int = Field(default=50_000, ge=100)
    # pickle: loads fast, but loading runs code, so only load models from a registry you control.
    # skops: loading cannot run arbitrary code, but the first save in a process costs ~10x the rest of
    # tracking (skops scans every loaded module), which breaks the 1 s tracking budget of `mlops train`.
    model_format: Literal["pickle", "skops"] = "pickle"
    base_dir: Path = Field(default=Path("."), exclude=True)

    @property
    def experiment_name(self) -> str:
        return self.experiment or self.model_name

    def dataset_spec_path(self) -> Path:
        path = Path(self.dataset)
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def check_task(self, spec: DatasetSpec) -> None:
        """Refuse a regressor on a classification dataset and the reverse, naming the key to change."""
        allowed = CLASSIFIERS if spec.task.is_classification else REGRESSORS
        if self.estimator.kind not in allowed:
            raise SpecError(
                f"estimator.kind {self.estimator.kind!r} does not fit the {spec.task} task of dataset "
                f"{spec.name!r}; choose one of {', '.join(allowed)}"
            )


def load_training_config(path: str | Path) -> TrainingConfig:
    config_path = Path(path).resolve()
    data = read_yaml_mapping(config_path, "training config")
    try:
        config = TrainingConfig.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, f"training config {config_path}")) from exc
    return config.model_copy(update={"base_dir": config_path.parent})


def load_config_and_spec(path: str | Path) -> tuple[TrainingConfig, DatasetSpec]:
    config = load_training_config(path)
    spec = load_dataset_spec(config.dataset_spec_path())
    config.check_task(spec)
    return config, spec
