"""Input checking against the signature: every error kind names the column and the problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.serve.errors import RequestError
from ml.serve.schema import InputSchema
from ml.serve.validate import parse_batch

SCHEMA = InputSchema.from_signature_inputs(
    [
        {"name": "age", "type": "double", "required": True},
        {"name": "visits", "type": "long", "required": True},
        {"name": "small", "type": "integer", "required": True},
        {"name": "region", "type": "string", "required": True},
        {"name": "member", "type": "boolean", "required": True},
        {"name": "score", "type": "double", "required": False},
    ]
)
ROW = {"age": 40.5, "visits": 3, "small": 1, "region": "north", "member": True, "score": 0.2}


def parse(body: Any, *, max_rows: int = 100, reject_extra: bool = True) -> Any:
    return parse_batch(body, SCHEMA, max_rows=max_rows, reject_extra=reject_extra)


def problem(body: Any, **kwargs: Any) -> RequestError:
    with pytest.raises(RequestError) as info:
        parse(body, **kwargs)
    return info.value


def test_records_become_typed_arrays() -> None:
    batch = parse([ROW, {**ROW, "score": None, "visits": 4.0}])
    assert batch.rows == 2
    assert batch.columns["age"].dtype == np.float64
    assert batch.columns["visits"].tolist() == [3, 4] and batch.columns["visits"].dtype == np.int64
    assert batch.columns["small"].dtype == np.int32
    assert batch.columns["member"].dtype == np.bool_
    assert np.isnan(batch.columns["score"][1])


@pytest.mark.parametrize(
    "body",
    [
        {"records": [ROW]},
        {"dataframe_records": [ROW]},
        {"columns": {k: [v] for k, v in ROW.items()}},
        {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
    ],
)
def test_every_body_shape_gives_the_same_batch(body: Any) -> None:
    batch = parse(body)
    assert batch.rows == 1
    assert {k: v.tolist()[0] for k, v in batch.columns.items()} == ROW


def test_optional_column_may_be_left_out() -> None:
    row = {k: v for k, v in ROW.items() if k != "score"}
    assert np.isnan(parse([row]).columns["score"][0])


@pytest.mark.parametrize(
    ("body", "kind", "column", "status"),
    [
        ([{k: v for k, v in ROW.items() if k != "age"}], "missing_column", "age", 422),
        ([ROW, {k: v for k, v in ROW.items() if k != "region"}], "missing_column", "region", 422),
        ([{**ROW, "colour": "red"}], "extra_column", "colour", 422),
        ([{**ROW, "age": "forty"}], "wrong_type", "age", 422),
        ([{**ROW, "visits": True}], "wrong_type", "visits", 422),
        ([{**ROW, "visits": 2.5}], "invalid_value", "visits", 422),
        ([{**ROW, "small": 2**40}], "invalid_value", "small", 422),
        ([{**ROW, "member": 1}], "wrong_type", "member", 422),
        ([{**ROW, "region": 7}], "wrong_type", "region", 422),
        ([{**ROW, "region": None}], "null_value", "region", 422),
        ([{**ROW, "age": [1]}], "wrong_type", "age", 422),
    ],
)
def test_each_problem_names_its_column(body: Any, kind: str, column: str, status: int) -> None:
    err = problem(body)
    assert err.kind == kind and err.status == status
    first = err.body()["errors"][0]
    assert first["column"] == column
    assert column in first["message"]


def test_wrong_type_names_the_row_and_the_expected_type() -> None:
    err = problem([ROW, ROW, {**ROW, "age": "x"}])
    assert err.problems[0].row == 2
    assert "expected a number" in err.problems[0].message


def test_all_problems_are_reported_together() -> None:
    err = problem([{**ROW, "age": "x", "region": None, "extra": 1}])
    assert {p.kind for p in err.problems} == {"wrong_type", "null_value", "extra_column"}


def test_extra_columns_can_be_ignored() -> None:
    batch = parse([{**ROW, "colour": "red"}], reject_extra=False)
    assert "colour" not in batch.columns


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ([], "empty_batch"),
        ({"records": []}, "empty_batch"),
        ({"columns": {"age": []}}, "empty_batch"),
        ({"columns": {"age": [1.0], "visits": [1, 2]}}, "ragged_columns"),
        ({"dataframe_split": {"columns": ["age"], "data": [[1.0, 2.0]]}}, "ragged_columns"),
        ("text", "bad_request_shape"),
        (42, "bad_request_shape"),
        ({"rows": []}, "bad_request_shape"),
        ([1, 2], "bad_request_shape"),
        ({"columns": {"age": 1.0}}, "bad_request_shape"),
    ],
)
def test_shape_problems(body: Any, kind: str) -> None:
    err = problem(body)
    assert err.kind == kind and 400 <= err.status < 500


def test_oversize_batch_is_413_and_says_the_limit() -> None:
    err = problem([ROW] * 11, max_rows=10)
    assert err.kind == "batch_too_large" and err.status == 413
    assert "10" in err.problems[0].message


def test_signature_without_names_or_with_unknown_types_is_refused() -> None:
    with pytest.raises(ValueError, match="unnamed input"):
        InputSchema.from_signature_inputs([{"type": "double"}])
    with pytest.raises(ValueError, match="tensor"):
        InputSchema.from_signature_inputs([{"name": "x", "type": "tensor"}])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(body=json_values)
def test_arbitrary_json_is_accepted_or_rejected_with_a_client_error(body: Any) -> None:
    try:
        parse(body)
    except RequestError as err:
        assert 400 <= err.status < 500
        assert err.body()["errors"]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries({}, optional={k: json_values for k in [*ROW, "extra"]}),
        min_size=1,
        max_size=5,
    )
)
def test_records_with_arbitrary_values_never_escape_as_other_errors(rows: list[dict[str, Any]]) -> None:
    try:
        batch = parse(rows)
    except RequestError as err:
        assert 400 <= err.status < 500
    else:
        assert batch.rows == len(rows)
