"""The model's input contract, taken from its MLflow signature, and the parsing of request bodies against it.

Bodies are turned straight into one numpy array per column: no DataFrame on the hot path, because building
one costs more than predicting a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any

import orjson

from ml.serve.errors import Problem, RequestError
from ml.serve.jsonarrays import VECTORISED_FROM, float_rows
from ml.serve.jsonscan import values_over

# Signature types the server can check; anything else in a signature stops start-up with a clear message.
SUPPORTED_TYPES = ("boolean", "integer", "long", "float", "double", "string", "datetime")
JSON_TYPE = {
    "boolean": "boolean",
    "integer": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
    "string": "string",
    "datetime": "string",
}
NUMERIC = {"integer", "long", "float", "double"}
INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its signature type, whether it may be null or missing, and for categorical columns
    the known categories and what to do with others (`reject`: 422, `accept`: score, count and mark)."""

    name: str
    type: str
    required: bool = True
    categories: frozenset[str] | None = None
    unknown: str = "accept"


@dataclass(frozen=True)
class InputSchema:
    columns: tuple[ColumnSpec, ...]

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def float_names(self) -> frozenset[str]:
        """Columns that take any JSON number: a block of rows holding only these converts in one C loop."""
        return frozenset(c.name for c in self.columns if c.type in ("double", "float"))

    @cached_property
    def double_index(self) -> dict[str, int]:
        """Row of each `double` column in `Batch.doubles`."""
        return {n: i for i, n in enumerate(c.name for c in self.columns if c.type == "double")}

    @classmethod
    def from_signature_inputs(cls, inputs: list[dict[str, Any]]) -> InputSchema:
        """Build from the JSON form of a signature's inputs (`[{"name", "type", "required"}]`)."""
        cols = []
        for spec in inputs:
            name, typ = spec.get("name"), spec.get("type")
            if not name:
                raise ValueError(
                    "the model signature has an unnamed input; log the model with a column-based signature "
                    "(infer_signature on a DataFrame)"
                )
            if typ not in SUPPORTED_TYPES:
                raise ValueError(
                    f"column {name!r} has signature type {typ!r}; the server checks only {', '.join(SUPPORTED_TYPES)}"
                )
            cols.append(ColumnSpec(str(name), str(typ), bool(spec.get("required", True))))
        if not cols:
            raise ValueError("the model signature has no inputs; log the model with a signature")
        return cls(tuple(cols))

    def as_json(self) -> list[dict[str, Any]]:
        out = []
        for c in self.columns:
            col: dict[str, Any] = {"name": c.name, "type": c.type, "required": c.required}
            if c.categories is not None:
                col["categories"], col["unknown"] = sorted(c.categories), c.unknown
            out.append(col)
        return out


def value_budget(schema: InputSchema, max_rows: int) -> int:
    """The most JSON values a body within the row limit needs: each row's values, the row itself and its
    separators, four times over for extra columns and parameters."""
    return max_rows * (len(schema.columns) + 2) * 4


def loads(raw: bytes | memoryview, what: str = "the body", max_values: int | None = None) -> Any:
    """Parse JSON with orjson; only if that fails, again with the stdlib, which reads the `NaN` literal that
    MLflow's and tritonclient's Python clients write for missing floats (it becomes null, a missing value).

    With `max_values`, a body holding more values than that is refused from its bytes, before it is parsed."""
    if max_values is not None:
        count = values_over(raw, max_values)
        if count is not None:
            raise RequestError.single(
                "batch_too_large",
                f"{what} holds over {count} JSON values, more than a batch within the row limit needs "
                f"({max_values}): split it into smaller batches",
            )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(bytes(raw), parse_constant=_nan_as_null)
        except (ValueError, UnicodeDecodeError):
            raise RequestError.single("malformed_json", f"{what} is not valid JSON: {exc}") from exc
        except RecursionError:
            # orjson stops at 1,024 levels; the stdlib then runs out of stack on the same body.
            raise RequestError.single(
                "malformed_json", f"{what} is nested too deeply ({exc}); no model input needs that"
            ) from None


def _nan_as_null(constant: str) -> None:
    if constant != "NaN":
        raise ValueError(f"{constant} is not a value a model can take")


@dataclass
class Batch:
    """Validated input: one array per schema column, all of length `rows`.

    `doubles` holds every `double` column as one (columns x rows) float64 matrix, built with a single numpy
    call; `columns` has views of its rows. The fast path slices it instead of stacking column by column.
    """

    columns: dict[str, Any]
    rows: int
    doubles: Any = None
    # Column -> boolean mask of the rows holding a category the model never saw (accepted by the policy).
    unknown: dict[str, Any] = field(default_factory=dict)


Columns = tuple[dict[str, Any], int, list[str]]
"""(column -> values, rows, extra column names): what every protocol's decoder hands to validation."""


def split_body(body: Any, schema: InputSchema, *, max_rows: int) -> Columns:
    """Return (column -> values, rows, extra column names) for records or columnar bodies."""
    if isinstance(body, list):
        return from_records(body, schema, max_rows=max_rows)
    if isinstance(body, dict):
        if isinstance(body.get("records"), list):
            return from_records(body["records"], schema, max_rows=max_rows)
        if isinstance(body.get("dataframe_records"), list):
            return from_records(body["dataframe_records"], schema, max_rows=max_rows)
        if isinstance(body.get("columns"), dict):
            return from_columns(body["columns"])
        if isinstance(body.get("dataframe_split"), dict):
            return from_split(body["dataframe_split"], schema, max_rows=max_rows)
    raise RequestError.single(
        "bad_request_shape",
        'the body must be a list of records, {"records": [...]}, or {"columns": {"name": [values]}}',
    )


def from_records(records: list[Any], schema: InputSchema, *, max_rows: int) -> Columns:
    if not records:
        raise RequestError.single("empty_batch", "the batch has no rows; send at least one record")
    check_rows(len(records), max_rows)
    names = schema.names
    rows = _exact_rows(records, names)
    if rows is not None:
        return _from_rows(rows, names, schema), len(records), []
    expected = set(names)
    extras: dict[str, None] = {}
    complete = True
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise RequestError.single(
                "bad_request_shape", f"record {i} is a {type(rec).__name__}, not an object", row=i
            )
        if rec.keys() != expected:
            complete = False
            extras.update(dict.fromkeys(k for k in rec if k not in expected))
    if complete:
        return {n: [r[n] for r in records] for n in names}, len(records), []
    cols: dict[str, list[Any]] = {n: _Holey(r.get(n, _MISSING) for r in records) for n in names}
    return cols, len(records), list(extras)


def _exact_rows(records: list[Any], names: tuple[str, ...]) -> list[Any] | None:
    """Each record's values in `names` order, found in C loops, when every record is an object with exactly
    these keys (as many keys as names, none missing); None sends the body down the record-by-record path."""
    if len(set(names)) != len(names) or set(map(type, records)) != {dict} or set(map(len, records)) != {len(names)}:
        return None
    try:
        values = list(map(itemgetter(*names), records))
    except KeyError:
        return None
    return values if len(names) > 1 else list(zip(values, strict=True))


def _from_rows(rows: list[Any], names: Any, schema: InputSchema) -> dict[str, Any]:
    """Row lists to columns: float64 views of one matrix when every column takes numbers and every value is
    one (no Python per value), else one list per column (a C-level transpose) for the per-column checks."""
    if len(rows) >= VECTORISED_FROM and set(names) <= schema.float_names:
        matrix = float_rows(rows, len(names))
        if matrix is not None:
            return {n: matrix[:, j] for j, n in enumerate(names)}
    return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))


class _Holey(list[Any]):
    """A column built from records where some lacked keys: only these can hold _MISSING."""


def from_columns(columns: dict[str, Any]) -> tuple[dict[str, list[Any]], int, list[str]]:
    lengths = set()
    for name, values in columns.items():
        if not isinstance(values, list):
            raise RequestError.single("bad_request_shape", f"column {name!r} must be a list of values", column=name)
        lengths.add(len(values))
    if not columns or lengths == {0}:
        raise RequestError.single("empty_batch", "the batch has no rows; send at least one value per column")
    if len(lengths) > 1:
        raise RequestError.single(
            "ragged_columns", f"columns have different lengths {sorted(lengths)}; send equal-length lists"
        )
    return dict(columns), lengths.pop(), []


def from_split(split: dict[str, Any], schema: InputSchema, *, max_rows: int) -> Columns:
    names, data = split.get("columns"), split.get("data")
    if not isinstance(names, list) or not isinstance(data, list) or not all(isinstance(n, str) for n in names):
        raise RequestError.single(
            "bad_request_shape", 'dataframe_split needs "columns" (list of names) and "data" (list of rows)'
        )
    if not data:
        raise RequestError.single("empty_batch", "the batch has no rows; send at least one row in data")
    check_rows(len(data), max_rows)
    width = len(names)
    if set(map(type, data)) != {list} or set(map(len, data)) != {width}:
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != width:
                raise RequestError.single("ragged_columns", f"row {i} must be a list of {width} values", row=i)
    if len(set(names)) != width:
        return {n: [row[j] for row in data] for j, n in enumerate(names)}, len(data), []
    return _from_rows(data, names, schema), len(data), []


def check_rows(rows: int, max_rows: int) -> None:
    """Refuse a batch over the row limit from its length alone, before any column of it is built."""
    if rows > max_rows:
        raise RequestError.single(
            "batch_too_large", f"the batch has {rows} rows; the limit is {max_rows}: split it into smaller batches"
        )


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def problems_for_missing(cols: dict[str, list[Any]], spec: ColumnSpec) -> Problem | None:
    values = cols.get(spec.name)
    if values is None:
        if spec.required:
            return Problem("missing_column", f"column {spec.name!r} is required but missing", spec.name)
        return None
    if spec.required and type(values) is _Holey and _MISSING in values:
        row = next(i for i, v in enumerate(values) if v is _MISSING)
        return Problem("missing_column", f"column {spec.name!r} is missing in record {row}", spec.name, row)
    return None
