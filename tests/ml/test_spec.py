"""Dataset specs and training configs: valid ones parse, invalid ones fail naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ml.spec import ColumnType, SpecError, Task, load_dataset_spec, parse_dataset_spec
from ml.training_config import load_config_and_spec, load_training_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def minimal_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "toy",
        "source": {"uri": "data.csv"},
        "target": "y",
        "task": "binary",
        "labels": [0, 1],
        "columns": {"x": {"type": "float", "min": 0, "max": 10}, "c": {"type": "category", "categories": ["a"]}},
    }
    spec.update(overrides)
    return spec


def test_examples_parse() -> None:
    spec = load_dataset_spec(EXAMPLES / "breast_cancer" / "dataset.yaml")
    assert spec.task is Task.BINARY and spec.target == "target" and len(spec.columns) == 30
    assert spec.columns["mean radius"].type is ColumnType.FLOAT
    config, generated = load_config_and_spec(EXAMPLES / "generated" / "train.yaml")
    assert config.estimator.kind == "logistic_regression" and generated.categorical_columns == [
        "region",
        "plan",
        "channel",
    ]


def test_relative_source_resolves_against_the_spec_directory(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(minimal_spec()))
    assert load_dataset_spec(path).base_dir == tmp_path


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"task": "clustering"}, "task", "binary"),
        ({"colums": {}}, "colums", "unknown key"),
        ({"source": {}}, "source.uri", "required"),
        ({"columns": {"x": {"type": "float", "min": 5, "max": 1}}}, "columns.x", "greater than max"),
        ({"columns": {"x": {"type": "float", "categories": ["a"]}}}, "columns.x", "only allowed on columns of type"),
        ({"columns": {"x": {"type": "decimal"}}}, "columns.x.type", "float"),
        ({"columns": {"y": {"type": "float"}}}, "(top level)", "must not also be listed"),
        ({"labels": [0, 1, 2]}, "(top level)", "exactly two"),
        ({"task": "regression"}, "(top level)", "labels are for classification"),
        ({"columns": {"x": {"type": "float", "max_null_rate": 0.1}}}, "columns.x", "nullable: true"),
        ({"checks": {"max_duplicate_rate": 2}}, "checks.max_duplicate_rate", "less than or equal"),
    ],
)
def test_invalid_spec_names_the_key(change: dict[str, Any], key: str, words: str) -> None:
    data = minimal_spec()
    data.pop("colums", None)
    data.update(change)
    if "colums" in change:
        data.pop("columns")
    with pytest.raises(SpecError) as caught:
        parse_dataset_spec(data, Path("."), "dataset spec toy.yaml")
    message = str(caught.value)
    assert "toy.yaml" in message and f"- {key}" in message and words in message, message


def test_missing_and_malformed_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_dataset_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_dataset_spec(bad)
    bad.write_text("- a list")
    with pytest.raises(SpecError, match="mapping at the top level"):
        load_dataset_spec(bad)


def _write_config(tmp_path: Path, **overrides: Any) -> Path:
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(minimal_spec()))
    config = {"dataset": "spec.yaml", "model_name": "toy", "estimator": {"kind": "logistic_regression"}}
    config.update(overrides)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_training_config_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"- estimator\.kind: Input should be"):
        load_training_config(_write_config(tmp_path, estimator={"kind": "xgboost"}))
    with pytest.raises(SpecError, match=r"- model_name: String should match"):
        load_training_config(_write_config(tmp_path, model_name="has space"))
    with pytest.raises(SpecError, match=r"- gates\.slices\.0: .*needs min, max or equals"):
        load_training_config(
            _write_config(tmp_path, gates={"slices": [{"name": "s", "column": "x", "metric": "f1", "threshold": 1}]})
        )


def test_estimator_must_fit_the_task(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not fit the binary task"):
        load_config_and_spec(_write_config(tmp_path, estimator={"kind": "ridge"}))
