"""Strict per-column checks and conversion of JSON values to numpy arrays.

A clean numeric or boolean column is converted and checked in one C loop (`ml.serve.jsonarrays`); any other
column, or one that fails that, gets a set of its value types (one C-level pass) and the row-by-row search
that names the first bad row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.serve.errors import Problem, RequestError
from ml.serve.jsonarrays import VECTORISED_FROM, booleans, floats, integers
from ml.serve.schema import (
    _MISSING,
    INT32,
    Batch,
    Columns,
    ColumnSpec,
    InputSchema,
    check_rows,
    problems_for_missing,
    split_body,
)

_NONE = type(None)
_MISSING_T = type(_MISSING)
_ALLOWED: dict[str, frozenset[type]] = {
    "boolean": frozenset({bool}),
    "integer": frozenset({int, float}),
    "long": frozenset({int, float}),
    "float": frozenset({int, float}),
    "double": frozenset({int, float}),
    "string": frozenset({str}),
    "datetime": frozenset({str}),
}
_EXPECTED = {
    "boolean": "true or false",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "string": "a string",
    "datetime": "an ISO-8601 date-time string",
}


def parse_batch(body: Any, schema: InputSchema, *, max_rows: int, reject_extra: bool) -> Batch:
    """Validate a decoded JSON body against the schema; raise RequestError listing every problem found."""
    return validate_columns(
        split_body(body, schema, max_rows=max_rows), schema, max_rows=max_rows, reject_extra=reject_extra
    )


def validate_columns(decoded: Columns, schema: InputSchema, *, max_rows: int, reject_extra: bool) -> Batch:
    """The one validation of every protocol: JSON values (lists) get the strict per-type checks, binary
    tensors (numpy arrays) a check of their dtype; then nulls, categories and the row limit."""
    cols, rows, extras = decoded
    check_rows(rows, max_rows)
    known = set(schema.names)
    extras = extras + [c for c in cols if c not in known]
    problems: list[Problem] = []
    if extras and reject_extra:
        problems += [
            Problem("extra_column", f"column {c!r} is not in the model signature; remove it", c) for c in extras
        ]
    arrays: dict[str, Any] = {}
    doubles: list[tuple[str, Any]] = []
    for spec in schema.columns:
        missing = problems_for_missing(cols, spec)
        if missing is not None:
            problems.append(missing)
            continue
        values = cols.get(spec.name)
        if values is None:
            values = [None] * rows
        if isinstance(values, np.ndarray):
            result = convert_array(spec, values)
        else:
            clean = _clean(spec, values)
            result = convert(spec, values) if clean is None else clean
        if isinstance(result, Problem):
            problems.append(result)
        elif spec.type == "double":
            doubles.append((spec.name, result))
        else:
            arrays[spec.name] = result
    matrix = _double_matrix(doubles, arrays) if doubles and not problems else None
    unknown = {} if problems else _categories(schema, arrays, problems)
    if problems:
        raise RequestError(problems)
    return Batch(arrays, rows, matrix, unknown)


def _categories(schema: InputSchema, arrays: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """Masks of accepted unknown categories; a Problem for each column whose policy rejects them."""
    unknown: dict[str, Any] = {}
    for spec in schema.columns:
        if spec.categories is None or spec.name not in arrays:
            continue
        values = arrays[spec.name].tolist()
        seen = set(values)
        seen.discard(None)
        new = seen - spec.categories
        if not new:
            continue
        if spec.unknown == "reject":
            row, value = next((i, v) for i, v in enumerate(values) if v in new)
            problems.append(
                Problem(
                    "unknown_category",
                    f"column {spec.name!r} row {row}: unknown category {_short(value)}; the data contract "
                    f"rejects categories outside {sorted(spec.categories)[:20]}",
                    spec.name,
                    row,
                )
            )
        else:
            unknown[spec.name] = np.fromiter((v in new for v in values), dtype=np.bool_, count=len(values))
    return unknown


_FLOAT_KINDS = "fiu"


def convert_array(spec: ColumnSpec, values: Any) -> Any:
    """A binary tensor column as the array the model takes, or the Problem; numbers are checked as a whole."""
    kind = values.dtype.kind
    typ = spec.type
    if kind in "OUS" or typ == "datetime":
        # Strings (BYTES tensors) take the JSON path: their values are Python objects anyway.
        return convert(spec, values.tolist())
    expected = {"boolean": "b", "string": "", "float": _FLOAT_KINDS, "double": _FLOAT_KINDS}.get(typ, "iuf")
    if kind not in expected:
        return Problem(
            "wrong_type",
            f"column {spec.name!r}: a {values.dtype} tensor cannot be {typ}; send {_EXPECTED[typ]}",
            spec.name,
        )
    if kind == "f":
        holes = np.isnan(values)
        if holes.any():
            if spec.required:
                row = int(holes.argmax())
                return Problem(
                    "null_value",
                    f"column {spec.name!r} is NaN in row {row}; it is required: send a value",
                    spec.name,
                    row,
                )
            if typ in ("integer", "long"):
                whole = values[~holes]
                if not np.array_equal(whole, np.round(whole)):
                    return Problem("invalid_value", f"column {spec.name!r}: expected whole numbers ({typ})", spec.name)
                return values.astype(np.float64, copy=False)
    if typ in ("float", "double"):
        return values.astype(np.float64 if typ == "double" else np.float32, copy=False)
    if typ in ("integer", "long"):
        if kind == "f" and not np.array_equal(values, np.round(values)):
            return Problem("invalid_value", f"column {spec.name!r}: expected whole numbers ({typ})", spec.name)
        arr = values.astype(np.int64, copy=False)
        if typ == "integer":
            if arr.size and (arr.min() < INT32[0] or arr.max() > INT32[1]):
                return Problem("invalid_value", f"column {spec.name!r}: a value is outside the 32-bit range", spec.name)
            return arr.astype(np.int32)
        return arr
    return values


def _clean(spec: ColumnSpec, values: list[Any]) -> Any | None:
    """The column's array if every value has the column's type (checked in C), else None."""
    typ = spec.type
    if len(values) < VECTORISED_FROM:
        return None
    if typ in ("double", "float"):
        out = floats(values)
        return out if out is None or typ == "double" else out.astype(np.float32)
    if typ in ("long", "integer"):
        out = integers(values)
        if out is None or typ == "long":
            return out
        # Outside 32 bits: the per-value path words the Problem.
        return None if out.size and (out.min() < INT32[0] or out.max() > INT32[1]) else out.astype(np.int32)
    if typ == "boolean":
        return booleans(values)
    return None


def _double_matrix(doubles: list[tuple[str, Any]], arrays: dict[str, Any]) -> Any:
    matrix = np.stack([values for _, values in doubles])
    for i, (name, _) in enumerate(doubles):
        arrays[name] = matrix[i]
    return matrix


def convert(spec: ColumnSpec, values: list[Any]) -> Any:
    """Return the column as a numpy array, or the Problem with its first bad row."""
    checked = check(spec, values)
    if isinstance(checked, Problem):
        return checked
    values, has_null, has_float = checked
    try:
        return _to_array(spec, values, has_null, has_float)
    except (ValueError, OverflowError, TypeError) as exc:
        return Problem("invalid_value", f"column {spec.name!r}: {exc}", spec.name)


def check(spec: ColumnSpec, values: list[Any]) -> Problem | tuple[list[Any], bool, bool]:
    """The values with missing ones as None, whether any is null or a float; or the first bad row's Problem."""
    kinds = set(map(type, values))
    allowed = _ALLOWED[spec.type]
    has_null = _NONE in kinds or _MISSING_T in kinds
    if has_null:
        if spec.required:
            row = next(i for i, v in enumerate(values) if v is None or v is _MISSING)
            return Problem(
                "null_value", f"column {spec.name!r} is null in row {row}; it is required: send a value", spec.name, row
            )
        kinds -= {_NONE, _MISSING_T}
        values = [None if v is _MISSING else v for v in values]
    if not kinds <= allowed:
        row, bad = next((i, v) for i, v in enumerate(values) if v is not None and type(v) not in allowed)
        return Problem(
            "wrong_type",
            f"column {spec.name!r} row {row}: expected {_EXPECTED[spec.type]} ({spec.type}), "
            f"got {type(bad).__name__} {_short(bad)}",
            spec.name,
            row,
        )
    return values, has_null, float in kinds


def _to_array(spec: ColumnSpec, values: list[Any], has_null: bool, has_float: bool) -> Any:
    typ = spec.type
    if typ in ("float", "double"):
        return np.array(values, dtype=np.float64 if typ == "double" else np.float32)
    if typ in ("integer", "long"):
        if has_float:
            for i, v in enumerate(values):
                if type(v) is float and not v.is_integer():
                    raise ValueError(f"row {i} is {v!r}, expected a whole number ({typ})")
        if has_null:
            return np.array(values, dtype=np.float64)
        arr = np.array(values, dtype=np.int64)
        if typ == "integer" and arr.size and (arr.min() < INT32[0] or arr.max() > INT32[1]):
            raise ValueError("a value is outside the 32-bit integer range")
        return arr.astype(np.int32) if typ == "integer" else arr
    if typ == "boolean":
        return np.array(values, dtype=object if has_null else np.bool_)
    if typ == "datetime":
        return np.array([None if v is None else np.datetime64(v, "ns") for v in values], dtype="datetime64[ns]")
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
