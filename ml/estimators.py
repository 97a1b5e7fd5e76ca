"""The estimators a training config can name, and the full model Pipeline around them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml.spec import SpecError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from ml.spec import DatasetSpec
    from ml.training_config import TrainingConfig


def _estimator_class(kind: str) -> type:
    from sklearn import ensemble, linear_model

    classes: dict[str, type] = {
        "logistic_regression": linear_model.LogisticRegression,
        "random_forest": ensemble.RandomForestClassifier,
        # The histogram variants: exact gradient boosting takes minutes on a million rows.
        "gradient_boosting": ensemble.HistGradientBoostingClassifier,
        "linear_regression": linear_model.LinearRegression,
        "ridge": linear_model.Ridge,
        "random_forest_regressor": ensemble.RandomForestRegressor,
        "gradient_boosting_regressor": ensemble.HistGradientBoostingRegressor,
    }
    return classes[kind]


def make_estimator(kind: str, params: dict[str, Any], seed: int) -> Any:
    """An unfitted estimator; ``random_state`` is the config's seed unless the params set it."""
    cls = _estimator_class(kind)
    estimator = cls()
    valid = estimator.get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise SpecError(
            f"estimator.params has keys {unknown} that {cls.__name__} does not take; "
            f"valid keys: {', '.join(sorted(valid))}"
        )
    settings = dict(params)
    if "random_state" in valid and "random_state" not in settings:
        settings["random_state"] = seed
    return estimator.set_params(**settings)


def build_pipeline(spec: DatasetSpec, config: TrainingConfig, params: dict[str, Any] | None = None) -> Pipeline:
    from sklearn.pipeline import Pipeline

    from ml.features import build_preprocessor

    estimator = make_estimator(config.estimator.kind, params or config.estimator.params, config.seed)
    return Pipeline([("preprocess", build_preprocessor(spec, config.features)), ("model", estimator)])
