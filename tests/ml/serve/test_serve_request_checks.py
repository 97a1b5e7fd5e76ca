"""Request validation at its boundaries: per-type conversion of JSON values and of binary tensors, the
vectorised path (from `VECTORISED_FROM` values on) agreeing with the per-value one, 32-bit limits, nulls
and NaN in required and optional columns, and the data contract's unknown-category policy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ml.serve.errors import Problem, RequestError
from ml.serve.jsonarrays import VECTORISED_FROM
from ml.serve.schema import INT32, ColumnSpec, InputSchema
from ml.serve.validate import check, convert, convert_array, validate_columns

SHORT, LONG = 3, VECTORISED_FROM  # below and at the length where the C path takes over


def column(typ: str, *, required: bool = True, **kw: Any) -> ColumnSpec:
    return ColumnSpec("c", typ, required, **kw)


def validate(cols: dict[str, Any], schema: InputSchema, rows: int, *, extras=(), reject_extra: bool = True):
    return validate_columns((cols, rows, list(extras)), schema, max_rows=10_000, reject_extra=reject_extra)


def problems(cols: dict[str, Any], schema: InputSchema, rows: int, **kw: Any) -> list[Problem]:
    with pytest.raises(RequestError) as info:
        validate(cols, schema, rows, **kw)
    return info.value.problems


# --- JSON values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [SHORT, LONG])
@pytest.mark.parametrize(
    ("typ", "value", "dtype"),
    [("double", 1.5, np.float64), ("float", 1.5, np.float32), ("long", 7, np.int64), ("integer", 7, np.int32)],
)
def test_numbers_become_arrays_of_the_signature_s_type(n, typ, value, dtype) -> None:
    schema = InputSchema((column(typ),))
    batch = validate({"c": [value] * n}, schema, n)
    assert batch.columns["c"].dtype == dtype
    assert batch.columns["c"].tolist() == [value] * n


@pytest.mark.parametrize("n", [SHORT, LONG])
def test_booleans_stay_booleans_and_are_not_numbers(n) -> None:
    batch = validate({"c": [True, False] * n}, InputSchema((column("boolean"),)), 2 * n)
    assert batch.columns["c"].dtype == np.bool_ and batch.columns["c"].tolist() == [True, False] * n
    [p] = problems({"c": [1.0] + [True] * (n - 1)}, InputSchema((column("boolean"),)), n)
    assert (p.kind, p.row) == ("wrong_type", 0)
    assert p.message == "column 'c' row 0: expected true or false (boolean), got float 1.0"
    [p] = problems({"c": [0.5] * (n - 1) + [True]}, InputSchema((column("double"),)), n)
    assert (p.kind, p.row, p.message) == (
        "wrong_type",
        n - 1,
        f"column 'c' row {n - 1}: expected a number (double), got bool True",
    )


@pytest.mark.parametrize("n", [SHORT, LONG])
@pytest.mark.parametrize(("typ", "low", "high"), [("integer", *INT32), ("long", -(2**63), 2**63 - 1)])
def test_integers_at_the_edges_of_their_range(n, typ, low, high) -> None:
    schema = InputSchema((column(typ),))
    assert validate({"c": [low] * (n - 1) + [high]}, schema, n).columns["c"].tolist() == [low] * (n - 1) + [high]
    [p] = problems({"c": [low] * (n - 1) + [high + 1]}, schema, n)
    assert (p.kind, p.column) == ("invalid_value", "c")
    [p] = problems({"c": [low - 1] * n}, schema, n)
    assert p.kind == "invalid_value"


def test_a_32_bit_overflow_says_so() -> None:
    [p] = problems({"c": [INT32[1] + 1]}, InputSchema((column("integer"),)), 1)
    assert p.message == "column 'c': a value is outside the 32-bit integer range"


@pytest.mark.parametrize("n", [SHORT, LONG])
def test_whole_floats_are_integers_and_fractions_are_not(n) -> None:
    schema = InputSchema((column("long"),))
    assert validate({"c": [4.0] * n}, schema, n).columns["c"].tolist() == [4] * n
    [p] = problems({"c": [4.0] * (n - 1) + [4.5]}, schema, n)
    assert p.kind == "invalid_value"
    assert p.message == f"column 'c': row {n - 1} is 4.5, expected a whole number (long)"


@pytest.mark.parametrize("n", [SHORT, LONG])
def test_a_null_in_a_required_column_names_its_row(n) -> None:
    [p] = problems({"c": [1.0] * (n - 1) + [None]}, InputSchema((column("double"),)), n)
    assert (p.kind, p.row, p.message) == (
        "null_value",
        n - 1,
        f"column 'c' is null in row {n - 1}; it is required: send a value",
    )


@pytest.mark.parametrize("n", [SHORT, LONG])
@pytest.mark.parametrize(
    ("typ", "value", "null"),
    [("double", 2.0, "nan"), ("long", 2, "nan"), ("integer", 2, "nan"), ("boolean", True, None), ("string", "a", None)],
)
def test_an_optional_column_takes_nulls(n, typ, value, null) -> None:
    batch = validate({"c": [value] * (n - 1) + [None]}, InputSchema((column(typ, required=False),)), n)
    values = batch.columns["c"].tolist()
    assert values[:-1] == [value] * (n - 1)
    assert np.isnan(values[-1]) if null == "nan" else values[-1] is None, values[-1]


def test_a_missing_optional_column_is_all_null() -> None:
    schema = InputSchema((column("double"), ColumnSpec("o", "double", required=False)))
    batch = validate({"c": [1.0, 2.0]}, schema, 2)
    assert np.isnan(batch.columns["o"]).all() and len(batch.columns["o"]) == 2


def test_datetimes_and_strings() -> None:
    schema = InputSchema((ColumnSpec("t", "datetime", required=False), ColumnSpec("s", "string")))
    batch = validate({"t": ["2024-01-02T03:04:05", None], "s": ["a", "b"]}, schema, 2)
    assert batch.columns["t"].dtype == np.dtype("datetime64[ns]")
    assert str(batch.columns["t"][0]) == "2024-01-02T03:04:05.000000000" and np.isnat(batch.columns["t"][1])
    assert batch.columns["s"].dtype == object and batch.columns["s"].tolist() == ["a", "b"]
    [p] = problems({"t": ["yesterday", None], "s": ["a", "b"]}, schema, 2)
    assert (p.kind, p.column) == ("invalid_value", "t")
    assert p.message.startswith("column 't': ")


def test_long_values_are_shortened_in_messages() -> None:
    [p] = problems({"c": ["x" * 100]}, InputSchema((column("double"),)), 1)
    assert p.message == f"column 'c' row 0: expected a number (double), got str {repr('x' * 100)[:37]}..."
    [p] = problems({"c": ["x" * 38]}, InputSchema((column("double"),)), 1)
    assert p.message.endswith(f"got str {'x' * 38!r}")


def test_check_reports_nulls_and_floats() -> None:
    assert check(column("long", required=False), [1, None, 2.0]) == ([1, None, 2.0], True, True)
    assert check(column("long"), [1, 2]) == ([1, 2], False, False)
    assert isinstance(convert(column("long"), [1, "2"]), Problem)


# --- several columns, extras, categories --------------------------------------------------------------


def test_double_columns_share_one_matrix_in_schema_order() -> None:
    schema = InputSchema((ColumnSpec("a", "double"), ColumnSpec("n", "long"), ColumnSpec("b", "double")))
    batch = validate({"a": [1.0, 2.0], "n": [1, 2], "b": [3.0, 4.0]}, schema, 2)
    assert batch.doubles is not None and batch.doubles.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert batch.columns["b"].tolist() == [3.0, 4.0]
    assert validate({"n": [1]}, InputSchema((ColumnSpec("n", "long"),)), 1).doubles is None


def test_every_problem_is_reported_with_the_extra_columns_first() -> None:
    schema = InputSchema((ColumnSpec("a", "double"), ColumnSpec("b", "long")))
    found = problems({"a": ["x"], "z": [1]}, schema, 1, extras=["y"])
    assert [(p.kind, p.column) for p in found] == [
        ("extra_column", "y"),
        ("extra_column", "z"),
        ("wrong_type", "a"),
        ("missing_column", "b"),
    ]
    assert found[0].message == "column 'y' is not in the model signature; remove it"


def test_extra_columns_are_ignored_when_the_server_says_so() -> None:
    schema = InputSchema((ColumnSpec("a", "double"),))
    batch = validate({"a": [1.0], "z": [1]}, schema, 1, extras=["y"], reject_extra=False)
    assert list(batch.columns) == ["a"]


def test_the_row_limit_is_inclusive() -> None:
    schema = InputSchema((ColumnSpec("a", "double"),))
    assert validate_columns(({"a": [1.0] * 5}, 5, []), schema, max_rows=5, reject_extra=True).rows == 5
    with pytest.raises(RequestError) as info:
        validate_columns(({"a": [1.0] * 6}, 6, []), schema, max_rows=5, reject_extra=True)
    assert info.value.problems[0].kind == "batch_too_large"


CATEGORIES = frozenset({"basic", "pro"})


def test_known_categories_pass_and_unknown_ones_are_marked_under_accept() -> None:
    schema = InputSchema((ColumnSpec("plan", "string", False, CATEGORIES, "accept"),))
    batch = validate({"plan": ["basic", "team", None, "pro", "team"]}, schema, 5)
    assert batch.unknown["plan"].tolist() == [False, True, False, False, True]
    assert validate({"plan": ["basic", None]}, schema, 2).unknown == {}


def test_unknown_categories_are_refused_under_reject_naming_the_first_row() -> None:
    schema = InputSchema((ColumnSpec("plan", "string", True, CATEGORIES, "reject"),))
    [p] = problems({"plan": ["basic", "pro", "team", "gold"]}, schema, 4)
    assert (p.kind, p.column, p.row) == ("unknown_category", "plan", 2)
    assert p.message == (
        "column 'plan' row 2: unknown category 'team'; the data contract rejects categories outside ['basic', 'pro']"
    )
    assert validate({"plan": ["pro", "basic"]}, schema, 2).unknown == {}


def test_categories_are_not_checked_when_another_column_already_failed() -> None:
    schema = InputSchema((ColumnSpec("plan", "string", True, CATEGORIES, "reject"), ColumnSpec("a", "double", True)))
    assert [p.kind for p in problems({"plan": ["team"], "a": ["x"]}, schema, 1)] == ["wrong_type"]


# --- binary tensors (v2 protocol) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typ", "array", "expected", "dtype"),
    [
        ("double", np.array([1, 2], np.int32), [1.0, 2.0], np.float64),
        ("float", np.array([1.5, 2.5], np.float64), [1.5, 2.5], np.float32),
        ("long", np.array([1.0, 2.0]), [1, 2], np.int64),
        ("integer", np.array([1, 2], np.int64), [1, 2], np.int32),
        ("long", np.array([1, 2], np.uint8), [1, 2], np.int64),
        ("boolean", np.array([True, False]), [True, False], np.bool_),
    ],
)
def test_tensors_convert_to_the_signature_s_type(typ, array, expected, dtype) -> None:
    out = convert_array(column(typ), array)
    assert out.dtype == dtype and out.tolist() == expected


@pytest.mark.parametrize(
    ("typ", "array"),
    [
        ("boolean", np.array([1, 0])),
        ("double", np.array([True])),
        ("long", np.array([True])),
        ("string", np.array([1])),
    ],
)
def test_a_tensor_of_the_wrong_kind_is_refused(typ, array) -> None:
    p = convert_array(column(typ), array)
    assert isinstance(p, Problem) and (p.kind, p.column) == ("wrong_type", "c")
    assert p.message.startswith(f"column 'c': a {array.dtype} tensor cannot be {typ}; send ")


def test_nan_in_a_tensor_is_null() -> None:
    p = convert_array(column("double"), np.array([1.0, np.nan, np.nan]))
    assert (p.kind, p.column, p.row) == ("null_value", "c", 1)
    assert p.message == "column 'c' is NaN in row 1; it is required: send a value"
    out = convert_array(column("double", required=False), np.array([1.0, np.nan]))
    assert out.dtype == np.float64 and np.isnan(out[1])
    out = convert_array(column("long", required=False), np.array([1.0, np.nan]))
    assert out.dtype == np.float64 and out[0] == 1.0
    p = convert_array(column("long", required=False), np.array([1.5, np.nan]))
    assert (p.kind, p.column, p.message) == ("invalid_value", "c", "column 'c': expected whole numbers (long)")


def test_tensor_integers_are_whole_and_within_32_bits() -> None:
    p = convert_array(column("integer"), np.array([1.5]))
    assert (p.kind, p.column, p.message) == ("invalid_value", "c", "column 'c': expected whole numbers (integer)")
    assert convert_array(column("integer"), np.array([INT32[0], INT32[1]], np.int64)).tolist() == list(INT32)
    for outside in (INT32[0] - 1, INT32[1] + 1):
        p = convert_array(column("integer"), np.array([outside], np.int64))
        assert (p.kind, p.column) == ("invalid_value", "c")
        assert p.message == "column 'c': a value is outside the 32-bit range"
    assert convert_array(column("integer"), np.array([], np.int64)).tolist() == []


def test_string_tensors_take_the_per_value_path() -> None:
    for strings in (np.array(["a", "b"], dtype=object), np.array(["a", "b"])):
        out = convert_array(column("string", required=False), strings)
        assert out.dtype == object and len(out) == 2
    dates = convert_array(column("datetime"), np.array(["2024-01-02T00:00:00"], dtype=object))
    assert dates.dtype == np.dtype("datetime64[ns]")
    p = convert_array(column("double"), np.array(["a"], dtype=object))
    assert p.kind == "wrong_type"
