"""The reference profile contract (docs/architecture.md): layout, size, spec handling and input errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml.profile import build_reference_profile
from ml.spec import DatasetSpec


def test_numeric_and_categorical_layout(reference_frame: pd.DataFrame) -> None:
    profile = build_reference_profile(reference_frame[["age", "plan"]], reference_frame[["_prediction", "_proba"]])
    age, plan = profile["features"]["age"], profile["features"]["plan"]
    assert age["kind"] == "numeric" and len(age["counts"]) == len(age["edges"]) + 1 == 100
    assert sum(age["counts"]) == age["count"] == len(reference_frame)
    # Quantile bins hold about the same share of the reference each.
    assert max(age["counts"]) / min(age["counts"]) < 1.2
    assert set(age["quantiles"]) == {"0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99"}
    assert age["mean"] == pytest.approx(reference_frame["age"].mean(), rel=1e-6)
    assert plan["kind"] == "categorical" and set(plan["counts"]) == {"basic", "plus", "pro"}
    assert profile["predictions"]["_prediction"]["kind"] == "categorical"
    assert set(profile["predictions"]["_prediction"]["counts"]) == {"0", "1"}
    assert profile["predictions"]["_proba"]["kind"] == "numeric"


def test_profile_is_json_and_small_for_a_wide_frame() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=20_000) for i in range(100)})
    text = json.dumps(build_reference_profile(frame, rng.integers(0, 2, 20_000)))
    assert len(text) < 400_000
    assert json.loads(text)["rows"] == 20_000


def test_discrete_numeric_columns_get_one_bin_per_value() -> None:
    frame = pd.DataFrame({"k": np.repeat([0, 1, 2, 3], 250)})
    k = build_reference_profile(frame)["features"]["k"]
    assert k["edges"] == [0.0, 1.0, 2.0, 3.0] and k["counts"] == [0, 250, 250, 250, 250]


def test_nulls_and_many_categories() -> None:
    values = [f"c{i}" for i in range(300)] * 2 + [None] * 400
    frame = pd.DataFrame({"c": values, "x": [1.0, None] * 500})
    profile = build_reference_profile(frame)["features"]
    assert profile["c"]["null_rate"] == pytest.approx(0.4)
    assert len(profile["c"]["counts"]) == 201 and profile["c"]["counts"]["__other__"] == 200
    assert profile["x"]["null_rate"] == pytest.approx(0.5)


def test_dataset_spec_sets_kinds_and_schema_limits() -> None:
    spec = DatasetSpec(
        name="d",
        source={"uri": "x.csv"},
        target="y",
        task="binary",
        columns={
            "code": {"type": "category", "categories": ["1", "2", "3"]},
            "amount": {"type": "float", "min": 0, "max": 10},
        },
    )
    frame = pd.DataFrame({"code": [1, 2, 3, 1], "amount": [1.0, 2.0, 3.0, 4.0]})
    profile = build_reference_profile(frame, [0, 1, 0, 1], spec)["features"]
    assert profile["code"]["kind"] == "categorical"
    assert profile["code"]["schema"] == {"categories": ["1", "2", "3"]}
    assert profile["amount"]["schema"] == {"min": 0.0, "max": 10.0}


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((pd.DataFrame(),), ValueError, "features is empty"),
        (([1, 2],), TypeError, "must be a pandas DataFrame"),
        ((pd.DataFrame({"a": [1.0, 2.0]}), [1]), ValueError, "1 predictions for 2 feature rows"),
        ((pd.DataFrame({"a": [1.0, 2.0]}), np.zeros((2, 2))), ValueError, "one value per row"),
        ((pd.DataFrame({"a": [1.0]}), pd.DataFrame({"p": [1]})), ValueError, "needs a '_prediction'"),
        ((pd.DataFrame({"a": [1.0]}), None, {"columns": {"b": {"type": "float"}}}), ValueError, r"\['b'\]"),
        ((pd.DataFrame({"a": [1.0]}), None, object()), TypeError, "no 'columns' mapping"),
    ],
)
def test_bad_input_says_what_to_fix(args: tuple, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        build_reference_profile(*args)
