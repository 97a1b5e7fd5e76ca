"""Dataset specs: where a dataset lives and what its columns must look like.

A spec is YAML checked in next to the training config. Parsing is strict (unknown keys are errors) and
every error names the offending key, so a typo fails before any data is read.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Key of the data contract in the MLmodel metadata: written by training, enforced by the model server.
SERVING_CONTRACT_KEY = "mlops.data_contract"


class SpecError(ValueError):
    """A spec or config file that cannot be used; the message names the file, the key and the fix."""


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION


class ColumnType(StrEnum):
    FLOAT = "float"
    INT = "int"
    CATEGORY = "category"

    @property
    def is_numeric(self) -> bool:
        return self is not ColumnType.CATEGORY


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    type: ColumnType
    nullable: bool = False
    max_null_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    # What the model server does with a category outside `categories` (or outside those seen in training).
    unknown: Literal["reject", "accept"] = "accept"
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.categories is not None and self.type is not ColumnType.CATEGORY:
            raise ValueError("categories are only allowed on columns of type 'category'")
        if self.type is ColumnType.CATEGORY and (self.min is not None or self.max is not None):
            raise ValueError("min/max are only allowed on numeric columns (float, int)")
        if "unknown" in self.model_fields_set and self.type is not ColumnType.CATEGORY:
            raise ValueError("unknown (reject | accept) is only allowed on columns of type 'category'")
        if self.max_null_rate is not None and not self.nullable and self.max_null_rate > 0:
            raise ValueError("max_null_rate > 0 needs nullable: true")
        return self

    @property
    def allowed_null_rate(self) -> float:
        if not self.nullable:
            return 0.0
        return 1.0 if self.max_null_rate is None else self.max_null_rate


class SourceSpec(_Strict):
    uri: str = Field(min_length=1)
    format: Literal["csv", "parquet"] | None = None


class ChecksSpec(_Strict):
    min_rows: int = Field(default=1, ge=1)
    max_duplicate_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    extra_columns: Literal["error", "ignore"] = "error"


class DatasetSpec(_Strict):
    name: str = Field(min_length=1)
    source: SourceSpec
    target: str = Field(min_length=1)
    task: Task
    labels: list[int | str] | None = None
    target_min: float | None = None
    target_max: float | None = None
    columns: dict[str, ColumnSpec] = Field(min_length=1)
    checks: ChecksSpec = ChecksSpec()
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        if self.target in self.columns:
            raise ValueError(f"target {self.target!r} must not also be listed under columns")
        if self.task.is_classification:
            if self.target_min is not None or self.target_max is not None:
                raise ValueError("target_min/target_max are for regression; use labels for classification")
            if self.labels is not None:
                need = 2 if self.task is Task.BINARY else 3
                if len(set(self.labels)) != len(self.labels) or len(self.labels) < need:
                    raise ValueError(f"labels must be {need} or more distinct values for task {self.task}")
                if self.task is Task.BINARY and len(self.labels) != 2:
                    raise ValueError("labels of a binary task must be exactly two values")
        elif self.labels is not None:
            raise ValueError("labels are for classification tasks; use target_min/target_max for regression")
        return self

    @property
    def numeric_columns(self) -> list[str]:
        return [name for name, col in self.columns.items() if col.type.is_numeric]

    @property
    def categorical_columns(self) -> list[str]:
        return [name for name, col in self.columns.items() if not col.type.is_numeric]

    @property
    def feature_columns(self) -> list[str]:
        return list(self.columns)

    def schema_dict(self) -> dict[str, Any]:
        """The column schema as plain data (for the ``data.schema`` tag)."""
        return {name: col.model_dump(exclude_defaults=True) for name, col in self.columns.items()}

    def serving_contract(self) -> dict[str, Any]:
        """What the model server enforces beyond the signature: nullable columns, categories and their policy."""
        columns: dict[str, Any] = {}
        for name, col in self.columns.items():
            rule: dict[str, Any] = {"nullable": col.nullable}
            if not col.type.is_numeric:
                rule.update(categories=col.categories, unknown=col.unknown)
            columns[name] = rule
        return {"columns": columns}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=False), sort_keys=False)


def signature_with_contract(signature: Any, contract: dict[str, Any]) -> Any:
    """The MLflow signature with the contract's nullable columns optional: a training sample without nulls
    must not make them required at serving time."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    rules = contract.get("columns", {})
    inputs = Schema(
        [
            ColSpec(c.type, c.name, required=c.required and not rules.get(c.name, {}).get("nullable", False))
            for c in signature.inputs.inputs
        ]
    )
    return ModelSignature(inputs=inputs, outputs=signature.outputs, params=signature.params)


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem, each naming its key as a dotted path."""
    lines = [f"{source} is not valid:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (remove it, or check its spelling)"
        elif item["type"] == "missing":
            message = "required key is missing"
        lines.append(f"  - {key}: {message}")
    return "\n".join(lines)


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise SpecError(f"{what} {path} does not exist; pass the path of a YAML file.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{what} {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{what} {path} must be a YAML mapping at the top level, got {type(data).__name__}.")
    return data


def parse_dataset_spec(data: dict[str, Any], base_dir: Path, source: str = "dataset spec") -> DatasetSpec:
    try:
        spec = DatasetSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source)) from exc
    return spec.model_copy(update={"base_dir": base_dir})


def load_dataset_spec(path: str | Path) -> DatasetSpec:
    """Read and check a dataset spec; relative source paths resolve against the spec's directory."""
    spec_path = Path(path).resolve()
    data = read_yaml_mapping(spec_path, "dataset spec")
    return parse_dataset_spec(data, spec_path.parent, f"dataset spec {spec_path}")
