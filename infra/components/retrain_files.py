"""The model's files a retrain from the schedule needs, read from the project at `up` for either target."""

from __future__ import annotations

from pathlib import Path

import yaml

from contract import monitor_env
from infra.settings import Settings

TRAIN_CONFIG, DATASET_SPEC = monitor_env.RETRAIN_TRAIN_CONFIG, monitor_env.RETRAIN_DATASET_SPEC


def model_files(s: Settings) -> dict[str, str]:
    """The training config (its `dataset:` pointing at the spec beside it) and the dataset spec, as text.
    A path relative to the project is read from where `up` runs the program (the project directory)."""
    path = Path(s.monitoring.retrain_config).expanduser()
    key = "mlops:monitoring.retrain.trainConfig"
    try:
        config = yaml.safe_load(path.read_text()) or {}
        spec_path = path.parent / str(config["dataset"])
        spec = spec_path.read_text()
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ValueError(
            f"stack '{s.stack}': {key} = {str(path)!r}: the training config and the dataset spec it names must be "
            f"readable from the project ({type(exc).__name__}: {exc})"
        ) from exc
    config["dataset"] = DATASET_SPEC
    return {TRAIN_CONFIG: yaml.safe_dump(config, sort_keys=False), DATASET_SPEC: spec}
