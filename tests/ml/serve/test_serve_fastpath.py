"""The numpy fast path gives the same answers as the fitted sklearn model, or steps aside."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ml.serve.errors import RequestError
from ml.serve.fastpath import compile_fast_path
from ml.serve.schema import InputSchema
from ml.serve.validate import parse_batch
from tests.ml.serve.serve_models import mixed_frame, mixed_pipeline

SCHEMA = InputSchema.from_signature_inputs(
    [
        {"name": "age", "type": "double"},
        {"name": "income", "type": "double"},
        {"name": "visits", "type": "long"},
        {"name": "region", "type": "string"},
        {"name": "plan", "type": "string"},
        {"name": "member", "type": "boolean"},
        {"name": "score", "type": "double", "required": False},
    ]
)


@pytest.fixture(scope="module")
def data() -> tuple[Any, Any, Any]:
    train, target = mixed_frame(800, seed=1)
    test, _ = mixed_frame(2000, seed=2)
    # Categories never seen in training: the encoder ignores them, so must the fast path.
    test.loc[test.index[::37], "region"] = "atlantis"
    return train, target, test


def batch_of(frame: Any) -> Any:
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return parse_batch(records, SCHEMA, max_rows=100_000, reject_extra=True)


def assert_same(model: Any, frame: Any) -> None:
    fast = compile_fast_path(model, SCHEMA)
    assert fast is not None
    batch = batch_of(frame)
    preds, proba = fast.predict(batch)
    np.testing.assert_array_equal(preds, model.predict(frame))
    if hasattr(model, "predict_proba"):
        np.testing.assert_allclose(proba, model.predict_proba(frame), rtol=1e-9, atol=1e-12)
    else:
        assert proba is None
    for i in (0, 1, 17):
        one_preds, _ = fast.predict(batch_of(frame.iloc[[i]]))
        assert one_preds[0] == model.predict(frame.iloc[[i]])[0]


def test_binary_logistic_regression(data: tuple[Any, Any, Any]) -> None:
    from sklearn.linear_model import LogisticRegression

    train, target, test = data
    assert_same(mixed_pipeline(LogisticRegression(max_iter=500)).fit(train, target), test)


def test_multiclass_logistic_regression_with_string_labels(data: tuple[Any, Any, Any]) -> None:
    from sklearn.linear_model import LogisticRegression

    train, _, test = data
    labels = np.where(train["visits"] < 6, "low", np.where(train["visits"] < 13, "mid", "high"))
    assert_same(mixed_pipeline(LogisticRegression(max_iter=1000)).fit(train, labels), test)


def test_random_forest_classifier(data: tuple[Any, Any, Any]) -> None:
    from sklearn.ensemble import RandomForestClassifier

    train, target, test = data
    assert_same(mixed_pipeline(RandomForestClassifier(n_estimators=30, random_state=0)).fit(train, target), test)


def test_random_forest_regressor(data: tuple[Any, Any, Any]) -> None:
    from sklearn.ensemble import RandomForestRegressor

    train, _, test = data
    model = mixed_pipeline(RandomForestRegressor(n_estimators=20, random_state=0)).fit(train, train["income"])
    fast = compile_fast_path(model, SCHEMA)
    assert fast is not None
    batch = batch_of(test)
    preds, proba = fast.predict(batch)
    np.testing.assert_allclose(preds, model.predict(test), rtol=1e-12)
    assert proba is None


def test_minmax_scaler_and_strict_encoder(data: tuple[Any, Any, Any]) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

    train, target, test = data
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), MinMaxScaler()), [0, 1, 2, 6]),
            ("cat", OneHotEncoder(handle_unknown="error", sparse_output=True), ["region", "plan"]),
        ],
        remainder="drop",
    )
    model = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=500))]).fit(train, target)
    known = test[test["region"] != "atlantis"]
    assert_same(model, known)
    fast = compile_fast_path(model, SCHEMA)
    assert fast is not None
    with pytest.raises(RequestError) as info:
        fast.predict(batch_of(test.iloc[:40]))
    assert info.value.kind == "invalid_value" and info.value.problems[0].column == "region"
    assert "atlantis" in info.value.problems[0].message


def test_unknown_transformers_fall_back_to_the_model(data: tuple[Any, Any, Any]) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures

    train, target, _ = data
    pre = ColumnTransformer([("num", PolynomialFeatures(), ["age", "income"]), ("cat", OneHotEncoder(), ["region"])])
    model = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=500))]).fit(train, target)
    assert compile_fast_path(model, SCHEMA) is None


@pytest.mark.parametrize("column", ["age", "income", "visits", "score"])
def test_extreme_values_match_sklearn_or_are_a_client_error(data: tuple[Any, Any, Any], column: str) -> None:
    from sklearn.linear_model import LogisticRegression

    train, target, test = data
    model = mixed_pipeline(LogisticRegression(max_iter=500)).fit(train, target)
    fast = compile_fast_path(model, SCHEMA)
    assert fast is not None
    frame = test.iloc[:4].copy()
    frame[column] = [1.79e308, -1.79e308, 1e300, -1e300] if column != "visits" else [2**62, -(2**62), 0, 1]
    batch = batch_of(frame)
    try:
        want = model.predict_proba(frame)
    except ValueError:
        with pytest.raises(RequestError) as info:
            fast.predict(batch)
        assert info.value.status == 422
    else:
        _, got = fast.predict(batch)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_project_preprocessor_parts_with_missing_categories(data: tuple[Any, Any, Any]) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from ml.features import MISSING_CATEGORY, QuantileClipper

    train, target, test = data
    train, test = train.copy(), test.copy()
    train["plan"] = train["plan"].astype(object)
    test["plan"] = test["plan"].astype(object)
    train.loc[train.index[::9], "plan"] = np.nan
    test.loc[test.index[::7], "plan"] = np.nan
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("clip", QuantileClipper(lower=0.05, upper=0.95)),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    pre = ColumnTransformer([("num", numeric, ["age", "income", "visits", "score"]), ("cat", categorical, ["plan"])])
    model = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=500))]).fit(train, target)
    schema = InputSchema.from_signature_inputs(
        [*SCHEMA.as_json()[:4], {"name": "plan", "type": "string", "required": False}, *SCHEMA.as_json()[5:]]
    )
    fast = compile_fast_path(model, schema)
    assert fast is not None
    records = test.astype(object).where(test.notna(), None).to_dict("records")
    batch = parse_batch(records, schema, max_rows=100_000, reject_extra=True)
    preds, proba = fast.predict(batch)
    np.testing.assert_array_equal(preds, model.predict(test))
    np.testing.assert_allclose(proba, model.predict_proba(test), rtol=1e-9, atol=1e-12)
