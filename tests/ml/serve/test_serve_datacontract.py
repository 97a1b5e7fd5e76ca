"""The data contract laid over a model's signature: which columns may be null or missing, which categories
are known (the spec's list, else what the fitted encoder learned) and what happens to an unknown one."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from ml.features import MISSING_CATEGORY
from ml.serve.datacontract import apply_contract, fitted_categories
from ml.serve.schema import ColumnSpec, InputSchema
from ml.spec import SERVING_CONTRACT_KEY

SCHEMA = InputSchema(
    (
        ColumnSpec("age", "double"),
        ColumnSpec("plan", "string"),
        ColumnSpec("region", "string"),
        ColumnSpec("note", "string", required=False),
    )
)
FRAME = pd.DataFrame(
    {
        "age": [30.0, 40.0, 50.0, 60.0],
        "plan": ["basic", "pro", "basic", MISSING_CATEGORY],
        "region": ["north", "south", "east", "north"],
        "note": ["a", "b", "c", "d"],
    }
)


def pipeline(*, ordinal: bool = False, columns: object = ("plan",)) -> Pipeline:
    encoder = OrdinalEncoder() if ordinal else OneHotEncoder(handle_unknown="ignore")
    categorical = Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("encode", encoder)])
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age"]),
            ("cat", categorical, list(columns)),
            ("region", OneHotEncoder(), ["region"]),
        ]
    )
    return Pipeline([("pre", pre), ("model", LogisticRegression())]).fit(FRAME, [0, 1, 0, 1])


def contract(**columns: dict) -> dict:
    return {SERVING_CONTRACT_KEY: {"columns": columns}}


def by_name(schema: InputSchema) -> dict[str, ColumnSpec]:
    return {c.name: c for c in schema.columns}


def test_the_fitted_encoders_categories_without_the_imputers_fill_value() -> None:
    assert fitted_categories(pipeline()) == {"plan": ["basic", "pro"], "region": ["east", "north", "south"]}
    assert fitted_categories(pipeline(ordinal=True))["plan"] == ["basic", "pro"]


def test_a_model_without_a_column_transformer_has_no_fitted_categories() -> None:
    assert fitted_categories(LogisticRegression().fit(np.eye(2), [0, 1])) == {}
    scaled = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(np.eye(2), [0, 1])
    assert fitted_categories(scaled) == {}


def test_columns_chosen_by_position_are_not_named() -> None:
    pre = ColumnTransformer([("cat", OneHotEncoder(), [1])]).fit(FRAME)
    assert fitted_categories(pre) == {}


def test_without_a_contract_the_fitted_categories_are_checked_and_unknown_ones_accepted() -> None:
    columns = by_name(apply_contract(SCHEMA, None, pipeline()))
    assert columns["plan"] == ColumnSpec("plan", "string", True, frozenset({"basic", "pro"}), "accept")
    assert columns["region"].categories == frozenset({"east", "north", "south"})
    assert columns["age"] == ColumnSpec("age", "double", True, None, "accept")
    assert columns["note"] == ColumnSpec("note", "string", False, None, "accept")
    assert [c.name for c in apply_contract(SCHEMA, {}, pipeline()).columns] == ["age", "plan", "region", "note"]


def test_the_spec_s_categories_win_over_the_fitted_ones_and_its_policy_applies() -> None:
    metadata = contract(plan={"categories": ["basic", "pro", "team", 3], "unknown": "reject"})
    columns = by_name(apply_contract(SCHEMA, metadata, pipeline()))
    assert columns["plan"].categories == frozenset({"basic", "pro", "team", "3"})
    assert columns["plan"].unknown == "reject"
    assert columns["region"].unknown == "accept"


def test_an_empty_category_list_in_the_spec_is_a_list() -> None:
    columns = by_name(apply_contract(SCHEMA, contract(plan={"categories": []}), pipeline()))
    assert columns["plan"].categories == frozenset()


def test_a_nullable_column_becomes_optional_and_a_non_nullable_one_stays_required() -> None:
    metadata = contract(age={"nullable": True}, plan={"nullable": False}, note={"nullable": False})
    columns = by_name(apply_contract(SCHEMA, metadata, pipeline()))
    assert columns["age"].required is False
    assert columns["plan"].required is True
    assert columns["note"].required is False  # optional in the signature stays optional


def test_categories_apply_to_string_columns_only() -> None:
    metadata = contract(age={"categories": [30, 40]})
    assert by_name(apply_contract(SCHEMA, metadata, pipeline()))["age"].categories is None


def test_a_contract_without_columns_changes_nothing_but_the_fitted_categories() -> None:
    metadata = {SERVING_CONTRACT_KEY: {}}
    assert apply_contract(SCHEMA, metadata, pipeline()) == apply_contract(SCHEMA, None, pipeline())
    assert apply_contract(SCHEMA, {SERVING_CONTRACT_KEY: None}, pipeline()) == apply_contract(SCHEMA, None, pipeline())
