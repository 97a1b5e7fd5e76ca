"""MLflow's scoring protocol, as `mlflow models serve` speaks it: `POST /invocations` with one of
`dataframe_split`, `dataframe_records`, `instances` or `inputs` (and optional `params`) as JSON, or a CSV
body; the answer is `{"predictions": [...]}`. `GET /ping` and `GET /version` answer as MLflow's server does.

Decoding only turns a body into columns; validation and prediction are the server's one shared path.
"""

from __future__ import annotations

import io
from typing import Any

import orjson

from ml.serve.errors import RequestError
from ml.serve.schema import Columns, InputSchema, from_columns, from_records, from_split, loads, value_budget

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARAMS = "params"
# Pinned in the body of GET /version: the scoring protocol of this MLflow major version.
PROTOCOL_VERSION = "3"


def decode_invocation(raw: bytes, content_type: bytes | None, schema: InputSchema, *, max_rows: int) -> Columns:
    media, charset = _media(content_type)
    if charset not in ("", "utf-8"):
        raise RequestError.single("unsupported_media_type", f"charset {charset!r}: the server reads UTF-8 only")
    if media == "text/csv":
        return decode_csv(raw, schema)
    if media != "application/json":
        # As `mlflow models serve` does; a missing type is refused too (a browser may post one cross-site).
        shown = repr(media) if media else "none"
        raise RequestError.single(
            "unsupported_media_type", f"content-type {shown}: /invocations takes application/json or text/csv"
        )
    return decode_json(loads(raw, max_values=value_budget(schema, max_rows)), schema, max_rows=max_rows)


def decode_json(body: Any, schema: InputSchema, *, max_rows: int) -> Columns:
    keys = [k for k in FORMATS if isinstance(body, dict) and k in body]
    others = [k for k in body if k not in FORMATS and k != PARAMS] if isinstance(body, dict) else []
    if len(keys) != 1 or others:
        raise RequestError.single(
            "bad_request_shape",
            f"the body must be a JSON object with exactly one of {', '.join(FORMATS)} (and optionally params)"
            + (f"; unexpected keys {others}" if others else ""),
        )
    params = body.get(PARAMS)
    if params is not None and not isinstance(params, dict):
        raise RequestError.single("bad_request_shape", "params must be a JSON object of parameter values")
    key = keys[0]
    data = body[key]
    if key == "dataframe_split" and isinstance(data, dict):
        return from_split(data, schema, max_rows=max_rows)
    if key == "dataframe_records" and isinstance(data, list):
        return from_records(data, schema, max_rows=max_rows)
    if key in ("instances", "inputs"):
        if isinstance(data, dict):
            return from_columns(data)
        if isinstance(data, list) and data and all(isinstance(row, list) for row in data):
            # A 2-D tensor: columns in signature order, as MLflow maps an array onto a named schema.
            return from_split({"columns": list(schema.names), "data": data}, schema, max_rows=max_rows)
        if isinstance(data, list):
            return from_records(data, schema, max_rows=max_rows)
    raise RequestError.single(
        "bad_request_shape",
        f"{key} must be {'an object with columns and data' if key == 'dataframe_split' else 'a list of records'}",
    )


def decode_csv(raw: bytes, schema: InputSchema) -> Columns:
    """A CSV with a header row, as `DataFrame.to_csv(index=False)` writes it; empty fields are nulls."""
    import pandas as pd

    strings = {c.name: object for c in schema.columns if c.type in ("string", "datetime")}
    try:
        frame = pd.read_csv(io.BytesIO(raw), dtype=strings)
    except pd.errors.EmptyDataError as exc:
        raise RequestError.single("empty_batch", "the CSV has no rows; send a header row and data rows") from exc
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise RequestError.single("bad_request_shape", f"the body is not valid CSV: {exc}") from exc
    if frame.empty:
        raise RequestError.single("empty_batch", "the CSV has no rows; send a header row and data rows")
    columns = {str(name): _nulls_as_none(frame[name]) for name in frame.columns}
    return columns, len(frame), []


def _nulls_as_none(series: Any) -> list[Any]:
    if not series.isna().any():
        return list(series.tolist())
    return list(series.astype(object).where(series.notna(), None).tolist())


def encode_predictions(predictions: list[Any]) -> bytes:
    return orjson.dumps({"predictions": predictions})


def error_code(status: int) -> str:
    """MLflow's `error_code` for an HTTP status, so MLflow clients read our errors as theirs."""
    return {404: "RESOURCE_DOES_NOT_EXIST", 422: "INVALID_PARAMETER_VALUE"}.get(
        status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR"
    )


def _media(content_type: bytes | None) -> tuple[str, str]:
    if not content_type:
        return "", ""
    parts = [p.strip() for p in content_type.decode("latin-1").split(";")]
    charset = ""
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return parts[0].lower(), charset
