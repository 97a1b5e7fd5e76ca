"""Strict per-column checks and conversion of JSON values to numpy arrays.

A set of the value types is taken per column (one C-level pass), so a clean column costs one set lookup
and one array construction; the slow row-by-row search only runs to name the first bad row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.serve.errors import Problem, RequestError
from ml.serve.schema import _MISSING, INT32, Batch, ColumnSpec, InputSchema, problems_for_missing, split_body

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
    cols, rows, extras = split_body(body, schema.names)
    if rows > max_rows:
        raise RequestError.single(
            "batch_too_large", f"the batch has {rows} rows; the limit is {max_rows}: split it into smaller batches"
        )
    known = set(schema.names)
    extras = extras + [c for c in cols if c not in known]
    problems: list[Problem] = []
    if extras and reject_extra:
        problems += [
            Problem("extra_column", f"column {c!r} is not in the model signature; remove it", c) for c in extras
        ]
    arrays: dict[str, Any] = {}
    doubles: list[tuple[str, list[Any]]] = []
    for spec in schema.columns:
        missing = problems_for_missing(cols, spec)
        if missing is not None:
            problems.append(missing)
            continue
        values = cols.get(spec.name)
        if values is None:
            values = [None] * rows
        if spec.type == "double":
            checked = check(spec, values)
            if isinstance(checked, Problem):
                problems.append(checked)
            else:
                doubles.append((spec.name, checked[0]))
            continue
        result = convert(spec, values)
        if isinstance(result, Problem):
            problems.append(result)
        else:
            arrays[spec.name] = result
    matrix = _double_matrix(doubles, arrays, problems) if doubles and not problems else None
    if problems:
        raise RequestError(problems)
    return Batch(arrays, rows, matrix)


def _double_matrix(doubles: list[tuple[str, list[Any]]], arrays: dict[str, Any], problems: list[Problem]) -> Any:
    try:
        matrix = np.array([values for _, values in doubles], dtype=np.float64)
    except (OverflowError, ValueError, TypeError):
        for name, values in doubles:
            try:
                np.array(values, dtype=np.float64)
            except (OverflowError, ValueError, TypeError) as exc:
                problems.append(Problem("invalid_value", f"column {name!r}: {exc}", name))
        return None
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
