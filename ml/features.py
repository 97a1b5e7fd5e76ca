"""Feature preprocessing: the column transformer in front of every estimator, and its custom parts.

The whole preprocessing lives inside the model's Pipeline, so the served model takes raw columns and
training/serving skew cannot creep in through a separate preprocessing step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.compose import ColumnTransformer

    from ml.spec import DatasetSpec
    from ml.training_config import FeaturesConfig

MISSING_CATEGORY = "__missing__"


class QuantileClipper(TransformerMixin, BaseEstimator):
    """Clip each numeric column to quantiles learned in ``fit``.

    Why: a single extreme value (a unit error upstream) should not dominate a linear model's score at
    serving time. Clipping to training quantiles bounds every feature's contribution. NaNs pass through
    so that an imputer placed before or after still sees them.
    """

    def __init__(self, *, lower: float = 0.001, upper: float = 0.999) -> None:
        self.lower = lower
        self.upper = upper

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: Any, y: Any = None) -> QuantileClipper:
        if not (0.0 <= self.lower < self.upper <= 1.0):
            raise ValueError(
                f"QuantileClipper needs 0 <= lower < upper <= 1, got lower={self.lower}, upper={self.upper}"
            )
        data = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        self.lower_bounds_ = np.nanquantile(data, self.lower, axis=0)
        self.upper_bounds_ = np.nanquantile(data, self.upper, axis=0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, ("lower_bounds_", "upper_bounds_"))
        data = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return np.clip(data, self.lower_bounds_, self.upper_bounds_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", None)
        if input_features is None:
            input_features = [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray(input_features, dtype=object)


def build_preprocessor(spec: DatasetSpec, features: FeaturesConfig) -> ColumnTransformer:
    """numeric: impute (median) -> optional clip -> optional scale; categorical: impute -> one-hot."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if features.clip_quantiles is not None:
        low, high = features.clip_quantiles
        numeric_steps.append(("clip", QuantileClipper(lower=low, upper=high)))
    if features.scale_numeric:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            # Unknown categories at serving time become all-zero rows instead of a 500.
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    transformers: list[tuple[str, Any, list[str]]] = []
    if spec.numeric_columns:
        transformers.append(("numeric", Pipeline(numeric_steps), spec.numeric_columns))
    if spec.categorical_columns:
        transformers.append(("categorical", categorical, spec.categorical_columns))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def prepare_features(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The model's input frame: spec columns in spec order, numeric as float64, categorical as str.

    Numeric columns are float64 so the logged signature accepts nulls and integers at serving time.
    """
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for name in spec.numeric_columns:
        out[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
    for name in spec.categorical_columns:
        # Through the categorical codes, so each distinct value is converted to str once, not once per row.
        # NaN rather than None marks a missing category: SimpleImputer only recognises NaN in object arrays.
        codes = frame[name].astype("category")
        levels = np.array([str(level) for level in codes.cat.categories] + [np.nan], dtype=object)
        out[name] = levels[codes.cat.codes.to_numpy()]
    return out[spec.feature_columns]
