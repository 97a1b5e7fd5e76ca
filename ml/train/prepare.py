"""Training step 1, prepare: check the config against the dataset, load and validate the data, split it.

Nothing here touches MLflow: a dataset that fails validation raises before any run or model version exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml.data import LoadedData, load_dataset
from ml.features import prepare_features
from ml.gates import check_config
from ml.gitinfo import GitInfo, git_info
from ml.spec import DatasetSpec
from ml.train.timing import PhaseTimer
from ml.training_config import TrainingConfig
from ml.validate import DataValidationError, validate_frame

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class PreparedData:
    """Validated data split into training and held-out rows, and the code version that will train on it."""

    loaded: LoadedData
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    git: GitInfo


def split(features: pd.DataFrame, target: pd.Series, spec: DatasetSpec, config: TrainingConfig) -> Any:
    """`(x_train, x_test, y_train, y_test)`: seeded, stratified on classification tasks unless turned off."""
    from sklearn.model_selection import train_test_split

    stratify = target if spec.task.is_classification and config.split.stratify else None
    return train_test_split(
        features, target, test_size=config.split.test_size, random_state=config.seed, stratify=stratify
    )


def prepare(
    config: TrainingConfig,
    spec: DatasetSpec,
    *,
    say: Callable[[str], None],
    timer: PhaseTimer,
    s3_endpoint: str | None = None,
    data: LoadedData | None = None,
    git: GitInfo | None = None,
) -> PreparedData:
    """Raise SpecError on a config that does not fit the dataset, DataValidationError on bad data."""
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
    x_train, x_test, y_train, y_test = split(features, loaded.frame[spec.target], spec, config)
    return PreparedData(loaded, x_train, x_test, y_train, y_test, git or git_info(config.base_dir))
