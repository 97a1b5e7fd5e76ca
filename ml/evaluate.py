"""Held-out evaluation: metrics (the names of the ``test_<metric>`` contract) and plots.

Binary metrics are about the positive class, the larger of the two labels (``classes_[1]``), as
scikit-learn does; multiclass metrics are macro-averaged and ROC AUC is one-vs-rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.spec import Task

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae", "r2")
MAX_SCATTER_POINTS = 5_000


def classification_metrics(
    y_true: Any, y_pred: Any, proba: np.ndarray | None, classes: Any, task: Task
) -> dict[str, float]:
    from sklearn import metrics

    average = "binary" if task is Task.BINARY else "macro"
    pos = {"pos_label": classes[1]} if task is Task.BINARY else {}
    out = {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "precision": float(metrics.precision_score(y_true, y_pred, average=average, zero_division=0, **pos)),
        "recall": float(metrics.recall_score(y_true, y_pred, average=average, zero_division=0, **pos)),
        "f1": float(metrics.f1_score(y_true, y_pred, average=average, zero_division=0, **pos)),
    }
    present = set(y_true.tolist() if hasattr(y_true, "tolist") else y_true)
    # ROC AUC is undefined on a single class (a narrow slice can have one); leave it out instead of crashing.
    if proba is not None and len(present) > 1:
        if task is Task.BINARY:
            out["roc_auc"] = float(metrics.roc_auc_score(y_true == classes[1], proba[:, 1]))
        elif present == set(classes):
            out["roc_auc"] = float(metrics.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
    return out


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn import metrics

    return {
        "rmse": float(metrics.root_mean_squared_error(y_true, y_pred)),
        "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
        "r2": float(metrics.r2_score(y_true, y_pred)),
    }


@dataclass(frozen=True)
class Predictions:
    """A model's outputs on some rows, computed once and shared by metrics, gates, plots and the profile."""

    labels: np.ndarray
    proba: np.ndarray | None
    classes: list[Any]

    def subset(self, mask: np.ndarray) -> Predictions:
        return Predictions(self.labels[mask], None if self.proba is None else self.proba[mask], self.classes)

    def frame(self, task: Task, index: Any = None) -> pd.DataFrame:
        """The prediction-log layout: ``_prediction`` and, for classifiers, ``_proba``."""
        import numpy as np
        import pandas as pd

        out = pd.DataFrame({"_prediction": self.labels}, index=index)
        if self.proba is not None:
            out["_proba"] = self.proba[:, 1] if task is Task.BINARY else np.max(self.proba, axis=1)
        return out


def predict(model: Any, features: pd.DataFrame, task: Task) -> Predictions:
    import numpy as np

    labels = np.asarray(model.predict(features))
    if task is Task.REGRESSION or not hasattr(model, "predict_proba"):
        return Predictions(labels, None, [])
    return Predictions(labels, np.asarray(model.predict_proba(features)), list(model.classes_))


def metrics_of(predictions: Predictions, target: pd.Series, task: Task) -> dict[str, float]:
    if task is Task.REGRESSION:
        return regression_metrics(target, predictions.labels)
    return classification_metrics(target.to_numpy(), predictions.labels, predictions.proba, predictions.classes, task)


def write_plots(predictions: Predictions, target: pd.Series, task: Task, out_dir: Path, seed: int = 0) -> list[Path]:
    """Confusion matrix and ROC curve (classification) or residuals (regression), as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    actual = target.to_numpy()

    def save(fig: Any, name: str) -> None:
        path = out_dir / name
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    if task is Task.REGRESSION:
        # A scatter of a few thousand points shows the same picture as 200,000 and renders in milliseconds.
        shown = np.random.default_rng(seed).permutation(len(actual))[:MAX_SCATTER_POINTS]
        fig, ax = plt.subplots(figsize=(5, 4))
        fitted = predictions.labels[shown]
        ax.scatter(fitted, actual[shown] - fitted, s=4, alpha=0.4)
        ax.axhline(0.0, color="black", linewidth=1)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual - predicted")
        ax.set_title("Residuals on the held-out set")
        save(fig, "residuals.png")
        return written
    fig, ax = plt.subplots(figsize=(5, 4))
    ConfusionMatrixDisplay.from_predictions(actual, predictions.labels, ax=ax, colorbar=False)
    ax.set_title("Confusion matrix (held-out set)")
    save(fig, "confusion_matrix.png")
    if task is Task.BINARY and predictions.proba is not None:
        fig, ax = plt.subplots(figsize=(5, 4))
        RocCurveDisplay.from_predictions(actual == predictions.classes[1], predictions.proba[:, 1], ax=ax)
        ax.set_title("ROC curve (held-out set)")
        save(fig, "roc_curve.png")
    return written
