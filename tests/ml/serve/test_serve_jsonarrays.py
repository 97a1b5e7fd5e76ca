"""The vectorised JSON path keeps every check at its boundary: a bad value in the last row of 1,000, in every
body shape of every protocol, is refused naming its column and row, as the per-value path did."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ml.serve.errors import RequestError
from ml.serve.inference_v2 import decode_infer
from ml.serve.jsonarrays import booleans, float_rows, floats, integers
from ml.serve.mlflow_scoring import decode_invocation
from ml.serve.schema import ColumnSpec, InputSchema, loads, split_body
from ml.serve.validate import validate_columns

ROWS = 1000
LAST = ROWS - 1
DOUBLES = InputSchema(tuple(ColumnSpec(f"x{j}", "double") for j in range(5)))
MIXED = InputSchema(
    (
        ColumnSpec("age", "double"),
        ColumnSpec("visits", "long"),
        ColumnSpec("small", "integer"),
        ColumnSpec("ratio", "float"),
        ColumnSpec("member", "boolean"),
        ColumnSpec("region", "string", categories=frozenset({"north", "south"}), unknown="reject"),
        ColumnSpec("score", "double", required=False),
    )
)


def rows_of(schema: InputSchema) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    values = {
        "double": lambda i: float(rng.normal()) if i % 7 else i % 2,  # 0s and 1s too: ints that are not bools
        "long": lambda i: i,
        "integer": lambda i: i % 100,
        "float": lambda i: i / 8,
        "boolean": lambda i: i % 3 == 0,
        "string": lambda i: ("north", "south")[i % 2],
    }
    return [{c.name: values[c.type](i) for c in schema.columns} for i in range(ROWS)]


def v2_tensors(schema: InputSchema, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": c.name, "datatype": "FP64", "shape": [len(rows)], "data": [r.get(c.name) for r in rows]}
            for c in schema.columns
        ]
    }


def v2_matrix(schema: InputSchema, rows: list[dict[str, Any]]) -> dict[str, Any]:
    data = [r.get(c.name) for r in rows for c in schema.columns]
    return {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [len(rows), len(schema.names)], "data": data}]}


def split(schema: InputSchema, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"columns": list(schema.names), "data": [[r.get(n) for n in schema.names] for r in rows]}


def columns(schema: InputSchema, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {n: [r.get(n) for r in rows] for n in schema.names}


# body shape -> (builder of the body, decoder of its bytes)
SHAPES: dict[str, tuple[Callable[[InputSchema, list[dict[str, Any]]], Any], str]] = {
    "predict records": (lambda s, rows: rows, "predict"),
    "predict columns": (lambda s, rows: {"columns": columns(s, rows)}, "predict"),
    "predict dataframe_split": (lambda s, rows: {"dataframe_split": split(s, rows)}, "predict"),
    "mlflow dataframe_split": (lambda s, rows: {"dataframe_split": split(s, rows)}, "mlflow"),
    "mlflow dataframe_records": (lambda s, rows: {"dataframe_records": rows}, "mlflow"),
    "mlflow instances 2-D": (lambda s, rows: {"instances": split(s, rows)["data"]}, "mlflow"),
    "mlflow inputs columns": (lambda s, rows: {"inputs": columns(s, rows)}, "mlflow"),
    "v2 tensor per column": (v2_tensors, "v2"),
    "v2 2-D tensor": (v2_matrix, "v2"),
}


def parse(shape: str, schema: InputSchema, rows: list[dict[str, Any]], *, max_rows: int = ROWS) -> Any:
    build, protocol = SHAPES[shape]
    # allow_nan: Python's json writes NaN as MLflow's and tritonclient's clients do.
    raw = json.dumps(build(schema, rows), allow_nan=True).encode()
    if protocol == "predict":
        decoded = split_body(loads(raw), schema, max_rows=max_rows)
    elif protocol == "mlflow":
        decoded = decode_invocation(raw, b"application/json", schema, max_rows=max_rows)
    else:
        decoded, _ = decode_infer(raw, None, schema, max_rows=max_rows)
    return validate_columns(decoded, schema, max_rows=max_rows, reject_extra=True)


def refused(shape: str, schema: InputSchema, rows: list[dict[str, Any]]) -> RequestError:
    with pytest.raises(RequestError) as info:
        parse(shape, schema, rows)
    return info.value


def with_value(schema: InputSchema, column: str, value: Any, row: int = LAST) -> list[dict[str, Any]]:
    rows = rows_of(schema)
    rows[row] = {**rows[row], column: value}
    return rows


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("schema", [DOUBLES, MIXED], ids=["doubles", "mixed"])
def test_clean_batch_gives_the_per_value_answer(shape: str, schema: InputSchema) -> None:
    rows = rows_of(schema)
    batch = parse(shape, schema, rows)
    assert batch.rows == ROWS
    for spec in schema.columns:
        want = [r[spec.name] for r in rows]
        got = batch.columns[spec.name]
        assert got.tolist() == want, spec.name
        assert got.dtype == {"double": np.float64, "long": np.int64, "integer": np.int32}.get(spec.type, got.dtype)
    if schema is DOUBLES:
        np.testing.assert_array_equal(batch.doubles, np.array([[r[n] for r in rows] for n in schema.names]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("schema", "column", "value", "kind", "says"),
    [
        (DOUBLES, "x3", True, "wrong_type", "got bool True"),
        (DOUBLES, "x0", False, "wrong_type", "got bool False"),
        (DOUBLES, "x4", "1.5", "wrong_type", "got str '1.5'"),
        (DOUBLES, "x1", None, "null_value", "is null in row 999"),
        (DOUBLES, "x2", float("nan"), "null_value", "is null in row 999"),
        (MIXED, "age", True, "wrong_type", "expected a number (double), got bool"),
        (MIXED, "ratio", False, "wrong_type", "expected a number (float), got bool"),
        (MIXED, "visits", True, "wrong_type", "expected an integer (long), got bool"),
        (MIXED, "visits", "7", "wrong_type", "got str"),
        (MIXED, "visits", 2.5, "invalid_value", "row 999 is 2.5"),
        (MIXED, "small", 2**40, "invalid_value", "32-bit"),
        (MIXED, "member", 1, "wrong_type", "expected true or false (boolean), got int 1"),
        (MIXED, "member", None, "null_value", "is null in row 999"),
        (MIXED, "region", "atlantis", "unknown_category", "row 999: unknown category 'atlantis'"),
        (MIXED, "score", "high", "wrong_type", "got str 'high'"),
    ],
)
def test_a_bad_value_in_the_last_row_is_refused_naming_it(
    shape: str, schema: InputSchema, column: str, value: Any, kind: str, says: str
) -> None:
    err = refused(shape, schema, with_value(schema, column, value))
    first = err.problems[0]
    assert (first.kind, first.column) == (kind, column), err
    assert says in first.message and column in first.message
    if first.row is not None or kind != "invalid_value":
        assert first.row == LAST


@pytest.mark.parametrize("shape", SHAPES)
def test_a_nullable_double_takes_null_and_nan_in_the_last_row(shape: str) -> None:
    for value in (None, float("nan")):
        batch = parse(shape, MIXED, with_value(MIXED, "score", value))
        assert np.isnan(batch.columns["score"][LAST]) and not np.isnan(batch.columns["score"][:LAST]).any()


@pytest.mark.parametrize("shape", SHAPES)
def test_a_number_too_large_for_a_double_is_a_client_error(shape: str) -> None:
    err = refused(shape, DOUBLES, with_value(DOUBLES, "x2", 10**400))
    assert err.kind == "invalid_value" and err.problems[0].column == "x2" and 400 <= err.status < 500


@pytest.mark.parametrize("shape", ["predict records", "mlflow dataframe_records"])
@pytest.mark.parametrize("schema", [DOUBLES, MIXED], ids=["doubles", "mixed"])
def test_records_missing_or_extra_keys_in_the_last_row(shape: str, schema: InputSchema) -> None:
    rows = rows_of(schema)
    name = schema.names[0]
    rows[LAST] = {k: v for k, v in rows[LAST].items() if k != name}
    err = refused(shape, schema, rows)
    assert (err.kind, err.problems[0].column, err.problems[0].row) == ("missing_column", name, LAST)
    rows = rows_of(schema)
    rows[LAST] = {**rows[LAST], "colour": "red"}
    err = refused(shape, schema, rows)
    assert (err.kind, err.problems[0].column) == ("extra_column", "colour")
    not_a_record: Any = [1.0] * len(schema.names)
    rows[LAST] = not_a_record
    assert refused(shape, schema, rows).problems[0].row == LAST


@pytest.mark.parametrize("shape", ["predict dataframe_split", "mlflow dataframe_split", "mlflow instances 2-D"])
def test_a_short_last_row_is_ragged(shape: str) -> None:
    build, _ = SHAPES[shape]
    body = build(DOUBLES, rows_of(DOUBLES))
    data = body["dataframe_split"]["data"] if "dataframe_split" in body else body["instances"]
    data[LAST] = data[LAST][:-1]
    raw = json.dumps(body).encode()
    with pytest.raises(RequestError) as info:
        if shape.startswith("predict"):
            split_body(loads(raw), DOUBLES, max_rows=ROWS)
        else:
            decode_invocation(raw, b"application/json", DOUBLES, max_rows=ROWS)
    assert info.value.kind == "ragged_columns" and info.value.problems[0].row == LAST


def test_an_empty_dataframe_split_is_an_empty_batch() -> None:
    with pytest.raises(RequestError) as info:
        split_body({"dataframe_split": {"columns": ["x0"], "data": []}}, DOUBLES, max_rows=ROWS)
    assert info.value.kind == "empty_batch" and info.value.status == 422


def test_extra_columns_of_a_split_leave_the_block_path_and_are_refused() -> None:
    body = split(DOUBLES, rows_of(DOUBLES))
    body["columns"].append("extra")
    for row in body["data"]:
        row.append(1.0)
    with pytest.raises(RequestError) as info:
        decoded = split_body({"dataframe_split": body}, DOUBLES, max_rows=ROWS)
        validate_columns(decoded, DOUBLES, max_rows=ROWS, reject_extra=True)
    assert info.value.kind == "extra_column" and info.value.problems[0].column == "extra"


@pytest.mark.parametrize("shape", SHAPES)
def test_one_row_over_the_limit_is_refused_before_any_column_is_built(
    shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Row bodies are counted by the decoders, columnar ones first thing in validation: nothing is converted.
    for converter in ("schema.float_rows", "schema._exact_rows", "inference_v2._flat", "validate.floats"):
        monkeypatch.setattr(f"ml.serve.{converter}", None)
    with pytest.raises(RequestError) as info:
        parse(shape, DOUBLES, rows_of(DOUBLES), max_rows=LAST)
    assert info.value.kind == "batch_too_large" and info.value.status == 413
    assert f"the limit is {LAST}" in info.value.problems[0].message


def test_v2_nested_data_is_flattened_and_mixed_nesting_refused() -> None:
    tensor = {"name": "input-0", "datatype": "FP64", "shape": [2, 5], "data": [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]}
    (cols, rows, _), _ = decode_infer(json.dumps({"inputs": [tensor]}).encode(), None, DOUBLES, max_rows=2)
    assert rows == 2 and cols["x4"] == [5, 10]
    tensor["data"] = [[1, 2, 3, 4, 5], 6, 7, 8, 9, 10]
    with pytest.raises(RequestError) as info:
        decode_infer(json.dumps({"inputs": [tensor]}).encode(), None, DOUBLES, max_rows=2)
    assert info.value.kind == "bad_request_shape" and "mixes lists and values" in info.value.problems[0].message


@pytest.mark.parametrize(
    ("values", "want"),
    [
        ([1.5, 2, 0, 1, 0.0, 1.0, -0.0], [1.5, 2.0, 0.0, 1.0, 0.0, 1.0, 0.0]),
        ([True, 2.0], None),
        ([2.0, False], None),
        ([None, 2.0], None),
        (["1.5"], None),
        ([[1.0]], None),
        ([{}], None),
        ([10**400], None),
        ([], []),
    ],
)
def test_floats_takes_only_numbers(values: list[Any], want: list[float] | None) -> None:
    assert listed(floats(values)) == want


def test_integers_booleans_and_rows_take_only_their_own_type() -> None:
    assert listed(integers([0, 1, 2**62])) == [0, 1, 2**62]
    assert integers([0, True]) is None and integers([4.0]) is None and integers([2**64]) is None
    assert listed(booleans([True, False])) == [True, False]
    assert booleans([True, 1]) is None and booleans([True, None]) is None and booleans([1.0]) is None
    assert listed(float_rows([[1, 2.5], (3, 4)], 2)) == [[1.0, 2.5], [3.0, 4.0]]
    assert float_rows([[1, 2.5], [3]], 2) is None and float_rows([[1, True]], 2) is None
    assert float_rows([[1, 2], "ab"], 2) is None


def listed(array: Any | None) -> Any:
    return None if array is None else array.tolist()
