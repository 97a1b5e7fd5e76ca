"""Protocol decoders and the shared validation, without a server: MLflow bodies and CSV, v2 tensors (JSON and
binary, per column and 2-D), null and unknown-category rules of the data contract."""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pytest

from ml.serve.errors import RequestError
from ml.serve.inference_v2 import decode_infer, encode_infer
from ml.serve.mlflow_scoring import decode_invocation
from ml.serve.schema import Columns, InputSchema
from ml.serve.validate import validate_columns

SCHEMA = InputSchema.from_signature_inputs(
    [
        {"name": "age", "type": "double", "required": True},
        {"name": "visits", "type": "long", "required": True},
        {"name": "region", "type": "string", "required": True},
        {"name": "member", "type": "boolean", "required": True},
        {"name": "score", "type": "double", "required": False},
    ]
)
ROWS = [
    {"age": 40.5, "visits": 3, "region": "north", "member": True, "score": 0.2},
    {"age": 22.0, "visits": 0, "region": "south", "member": False, "score": None},
]
NUMERIC = InputSchema.from_signature_inputs([{"name": n, "type": "double"} for n in ("a", "b", "c")])


def validate(decoded: Columns, schema: InputSchema = SCHEMA) -> Any:
    return validate_columns(decoded, schema, max_rows=100, reject_extra=True)


def invocation(body: Any, content_type: bytes = b"application/json") -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return validate(decode_invocation(raw, content_type, SCHEMA, max_rows=100))


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": list(ROWS[0]), "data": [list(r.values()) for r in ROWS]}},
        {"dataframe_split": {"index": [0, 1], "columns": list(ROWS[0]), "data": [list(r.values()) for r in ROWS]}},
        {"dataframe_records": ROWS},
        {"instances": ROWS},
        {"inputs": {k: [r[k] for r in ROWS] for k in ROWS[0]}},
        {"inputs": ROWS, "params": {"anything": 1}},
        {"instances": [list(r.values()) for r in ROWS]},
    ],
)
def test_every_mlflow_json_format_gives_the_same_batch(body: Any) -> None:
    batch = invocation(body)
    assert batch.rows == 2 and batch.columns["region"].tolist() == ["north", "south"]
    assert np.isnan(batch.columns["score"][1]) and batch.columns["visits"].dtype == np.int64


def test_csv_with_an_empty_field_is_a_null() -> None:
    csv = b"age,visits,region,member,score\n40.5,3,north,True,0.2\n22.0,0,south,False,\n"
    batch = invocation(csv, b"text/csv; charset=utf-8")
    assert batch.columns["member"].tolist() == [True, False] and np.isnan(batch.columns["score"][1])


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        ({"dataframe_records": ROWS, "instances": ROWS}, b"application/json", "bad_request_shape"),
        ({"records": ROWS}, b"application/json", "bad_request_shape"),
        (ROWS, b"application/json", "bad_request_shape"),
        ({"inputs": ROWS, "params": [1]}, b"application/json", "bad_request_shape"),
        ({"inputs": ROWS}, b"application/json; charset=latin-1", "unsupported_media_type"),
        ({"inputs": ROWS}, b"application/xml", "unsupported_media_type"),
        (b"", b"text/csv", "empty_batch"),
    ],
)
def test_mlflow_errors_name_the_problem(body: Any, content_type: bytes, kind: str) -> None:
    with pytest.raises(RequestError) as info:
        invocation(body, content_type)
    assert info.value.kind == kind


def tensor(name: str, datatype: str, values: Any, binary: bool) -> tuple[dict[str, Any], bytes]:
    array = np.asarray(values)
    spec: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    if not binary:
        spec["data"] = array.tolist()
        return spec, b""
    if datatype == "BYTES":
        raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in array.reshape(-1).tolist())
    else:
        raw = array.astype({"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "BOOL": "?"}[datatype]).tobytes()
    spec["parameters"] = {"binary_data_size": len(raw)}
    return spec, raw


def v2_request(tensors: list[tuple[dict[str, Any], bytes]], schema: InputSchema = SCHEMA) -> Any:
    header = orjson.dumps({"inputs": [t for t, _ in tensors]})
    binary = b"".join(raw for _, raw in tensors)
    (cols, rows, extras), _ = decode_infer(header + binary, len(header) if binary else None, schema, max_rows=100)
    return validate((cols, rows, extras), schema)


@pytest.mark.parametrize("binary", [True, False])
def test_v2_one_tensor_per_column(binary: bool) -> None:
    batch = v2_request(
        [
            tensor("age", "FP32", [40.5, 22.0], binary),
            tensor("visits", "INT64", [[3], [0]], binary),
            tensor("region", "BYTES", ["north", "south"], binary),
            tensor("member", "BOOL", [True, False], binary),
            tensor("score", "FP64", [0.2, np.nan] if binary else [0.2, 0.1], binary),
        ]
    )
    assert batch.rows == 2 and batch.columns["age"].dtype == np.float64
    assert batch.columns["visits"].tolist() == [3, 0] and batch.columns["region"].tolist() == ["north", "south"]
    assert batch.columns["member"].dtype == np.bool_ and batch.doubles.shape == (2, 2)


@pytest.mark.parametrize("binary", [True, False])
def test_v2_one_2d_tensor_in_signature_order(binary: bool) -> None:
    values = np.arange(12, dtype=np.float64).reshape(4, 3)
    batch = v2_request([tensor("input-0", "FP64", values, binary)], NUMERIC)
    assert batch.rows == 4 and np.array_equal(batch.doubles, values.T)


def test_binary_nan_in_a_required_column_and_a_wrong_dtype_are_422() -> None:
    with pytest.raises(RequestError) as info:
        v2_request([tensor("input-0", "FP64", [[1.0, np.nan, 2.0]], True)], NUMERIC)
    assert info.value.kind == "null_value" and info.value.problems[0].column == "b"
    with pytest.raises(RequestError) as info:
        v2_request([tensor("input-0", "BOOL", [[True, False, True]], True)], NUMERIC)
    assert info.value.kind == "wrong_type"


def test_v2_binary_sizes_must_add_up() -> None:
    spec, raw = tensor("input-0", "FP64", [[1.0, 2.0, 3.0]], True)
    short = orjson.dumps({"inputs": [{**spec, "parameters": {"binary_data_size": len(raw) - 1}}]})
    with pytest.raises(RequestError, match="bytes for"):
        decode_infer(short + raw[:-1], len(short), NUMERIC, max_rows=100)
    header = orjson.dumps({"inputs": [spec]})
    with pytest.raises(RequestError, match="no input claims"):
        decode_infer(header + raw + b"x", len(header), NUMERIC, max_rows=100)


def test_v2_binary_outputs_round_trip() -> None:
    labels, proba = np.array(["a", "bb"], dtype=object), np.array([[0.9, 0.1], [0.2, 0.8]])
    header = {"outputs": [{"name": "predict", "parameters": {"binary_data": True}}, {"name": "predict_proba"}]}
    body, length = encode_infer(labels, proba, header, ("m", "1"), "req")
    assert length is not None
    meta = orjson.loads(body[:length])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == len(body) - length
    assert meta["outputs"][1]["data"] == [0.9, 0.1, 0.2, 0.8] and meta["outputs"][1]["shape"] == [2, 2]


def contract_schema(unknown: str) -> InputSchema:
    cols = tuple(
        replace(c, categories=frozenset({"north", "south"}), unknown=unknown) if c.name == "region" else c
        for c in SCHEMA.columns
    )
    return InputSchema(cols)


def test_unknown_category_rejected_names_column_and_value() -> None:
    rows = [ROWS[0], {**ROWS[1], "region": "Atlantis"}]
    with pytest.raises(RequestError) as info:
        validate(({k: [r[k] for r in rows] for k in ROWS[0]}, 2, []), contract_schema("reject"))
    problem = info.value.problems[0]
    assert (info.value.kind, info.value.status, problem.column, problem.row) == ("unknown_category", 422, "region", 1)
    assert "Atlantis" in problem.message


def test_unknown_category_accepted_is_marked() -> None:
    rows = [ROWS[0], {**ROWS[1], "region": "Atlantis"}]
    batch = validate(({k: [r[k] for r in rows] for k in ROWS[0]}, 2, []), contract_schema("accept"))
    assert batch.unknown["region"].tolist() == [False, True]
