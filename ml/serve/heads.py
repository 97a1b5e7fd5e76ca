"""The final estimator of a fast-path model, called without sklearn's per-call input checks.

On a one-row request those checks cost more than the model: a 100-tree forest validates its input once per
tree. Each head reproduces the estimator's own arithmetic in the same order, so the results are identical.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Head = Callable[[Any], Any]


def proba_head(estimator: Any) -> Head | None:
    """predict_proba for a classifier, or None for a regressor."""
    from scipy.special import expit
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if not hasattr(estimator, "predict_proba") or not hasattr(estimator, "classes_"):
        return None
    if type(estimator) is LogisticRegression and estimator.coef_.shape[0] == 1:
        coef, intercept = estimator.coef_[0].copy(), float(estimator.intercept_[0])

        def binary_lr(X: Any) -> Any:
            # Same formula as LogisticRegression._predict_proba_lr.
            p = expit(X @ coef + intercept)
            return np.column_stack([1.0 - p, p])

        return binary_lr
    if type(estimator) in (RandomForestClassifier, ExtraTreesClassifier) and estimator.n_outputs_ == 1:
        trees = [tree.tree_ for tree in estimator.estimators_]
        n_classes = int(estimator.n_classes_)

        def forest(X: Any) -> Any:
            X32 = np.ascontiguousarray(X, dtype=np.float32)
            out = np.zeros((X32.shape[0], n_classes), dtype=np.float64)
            for tree in trees:
                out += tree.predict(X32)[:, :n_classes]
            out /= len(trees)
            return out

        return forest
    return estimator.predict_proba


def predict_head(estimator: Any) -> Head:
    """predict for a regressor."""
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

    if type(estimator) in (RandomForestRegressor, ExtraTreesRegressor) and estimator.n_outputs_ == 1:
        trees = [tree.tree_ for tree in estimator.estimators_]

        def forest(X: Any) -> Any:
            X32 = np.ascontiguousarray(X, dtype=np.float32)
            out = np.zeros(X32.shape[0], dtype=np.float64)
            for tree in trees:
                out += tree.predict(X32)[:, 0]
            out /= len(trees)
            return out

        return forest
    return estimator.predict
