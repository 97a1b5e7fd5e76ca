"""The Open Inference Protocol v2 over REST (KServe, MLServer, Triton), with the binary tensor extension.

A request carries one tensor per column (shape [n] or [n, 1], named after the column) or one 2-D tensor
[n, columns] in signature order. Binary tensors (`parameters.binary_data_size`, the bytes after the
`Inference-Header-Content-Length` JSON header) become numpy arrays with `numpy.frombuffer`: no Python work
per number. Decoding only turns the request into columns; validation and prediction are the shared path.
"""

from __future__ import annotations

import math
import struct
from itertools import chain
from typing import Any

import numpy as np
import orjson

from ml.serve.errors import RequestError
from ml.serve.schema import Columns, InputSchema, check_rows, loads, value_budget

NUMPY_OF = {
    "FP64": "<f8",
    "FP32": "<f4",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "i1",
    "UINT64": "<u8",
    "UINT32": "<u4",
    "UINT16": "<u2",
    "UINT8": "u1",
    "BOOL": "?",
}
DATATYPE_OF_SIGNATURE = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "datetime": "BYTES",
}
OUTPUTS = ("predict", "predict_proba")
HEADER_LENGTH = b"inference-header-content-length"


def decode_infer(
    raw: bytes, header_length: int | None, schema: InputSchema, *, max_rows: int
) -> tuple[Columns, dict[str, Any]]:
    """(columns, the request's JSON header) of an infer request; a batch over `max_rows` is refused from the
    shapes, before any tensor is read."""
    split = len(raw) if header_length is None else header_length
    if split > len(raw):
        raise RequestError.single("bad_request_shape", "Inference-Header-Content-Length is past the end of the body")
    header = loads(memoryview(raw)[:split], "the inference header", value_budget(schema, max_rows))
    inputs = header.get("inputs") if isinstance(header, dict) else None
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, dict) for t in inputs):
        raise RequestError.single("bad_request_shape", 'the request needs "inputs": a list of tensors')
    binary = memoryview(raw)[split:]
    offset = 0
    tensors: list[tuple[str, list[int], Any]] = []
    for tensor in inputs:
        name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
        if not isinstance(name, str) or not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
            raise RequestError.single("bad_request_shape", "every input needs a name, a datatype and an int shape")
        if datatype != "BYTES" and datatype not in NUMPY_OF:
            raise RequestError.single("bad_request_shape", f"input {name!r}: datatype {datatype!r} is not supported")
        if shape:
            check_rows(shape[0], max_rows)
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or offset + size > len(binary):
                raise RequestError.single("bad_request_shape", f"input {name!r}: binary_data_size past the body end")
            values: Any = _from_bytes(binary[offset : offset + size], datatype, shape, name)
            offset += size
        else:
            values = _flat(tensor.get("data"), name)
            if len(values) != math.prod(shape):
                raise RequestError.single(
                    "bad_request_shape", f"input {name!r}: {len(values)} values for shape {shape}"
                )
        tensors.append((name, shape, values))
    if offset != len(binary):
        raise RequestError.single("bad_request_shape", "the body has binary data no input claims")
    return _columns(tensors, schema), header


def _from_bytes(buf: memoryview, datatype: str, shape: list[int], name: str) -> Any:
    count = math.prod(shape)
    if datatype == "BYTES":
        out = np.empty(count, dtype=object)
        pos = 0
        for i in range(count):
            if pos + 4 > len(buf):
                raise RequestError.single("bad_request_shape", f"input {name!r}: BYTES data ends early")
            (length,) = struct.unpack_from("<I", buf, pos)
            out[i] = bytes(buf[pos + 4 : pos + 4 + length]).decode("utf-8", errors="replace")
            pos += 4 + length
        return out.reshape(shape)
    dtype = np.dtype(NUMPY_OF[datatype])
    if len(buf) != count * dtype.itemsize:
        raise RequestError.single("bad_request_shape", f"input {name!r}: {len(buf)} bytes for {count} {datatype}")
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def _flat(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise RequestError.single("bad_request_shape", f"input {name!r} needs data or binary_data_size")
    while data and isinstance(data[0], list):
        if set(map(type, data)) != {list}:
            raise RequestError.single("bad_request_shape", f"input {name!r}: nested data mixes lists and values")
        data = list(chain.from_iterable(data))
    return data


def _columns(tensors: list[tuple[str, list[int], Any]], schema: InputSchema) -> Columns:
    names = schema.names
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][0] not in names:
        _, (rows, width), values = tensors[0]
        if width != len(names):
            raise RequestError.single(
                "bad_request_shape", f"a 2-D input needs {len(names)} columns ({', '.join(names)}), got {width}"
            )
        if isinstance(values, np.ndarray):
            return {n: values[:, j] for j, n in enumerate(names)}, rows, []
        return {n: values[j::width] for j, n in enumerate(names)}, rows, []
    columns: dict[str, Any] = {}
    rows_seen = set()
    for name, shape, values in tensors:
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise RequestError.single(
                "bad_request_shape", f"input {name!r} has shape {shape}: send [rows] or [rows, 1] per column", name
            )
        rows_seen.add(shape[0])
        columns[name] = values.reshape(-1) if isinstance(values, np.ndarray) else values
    if len(rows_seen) > 1:
        raise RequestError.single("ragged_columns", f"inputs have different row counts {sorted(rows_seen)}")
    rows = rows_seen.pop()
    if rows == 0:
        raise RequestError.single("empty_batch", "the batch has no rows; send at least one")
    return columns, rows, []


def encode_infer(
    labels: Any, proba: Any | None, header: dict[str, Any], model: tuple[str, str], request_id: str
) -> tuple[bytes, int | None]:
    """(body, JSON header length when binary outputs follow it) of an infer response."""
    requested = header.get("outputs")
    default_binary = bool((header.get("parameters") or {}).get("binary_data_output", False))
    wanted: list[tuple[str, bool]] = []
    if isinstance(requested, list) and requested:
        for out in requested:
            name = out.get("name") if isinstance(out, dict) else None
            if name not in OUTPUTS or (name == "predict_proba" and proba is None):
                raise RequestError.single("bad_request_shape", f"output {name!r} is not one of this model's outputs")
            wanted.append((name, bool((out.get("parameters") or {}).get("binary_data", default_binary))))
    else:
        wanted.append(("predict", default_binary))
    outputs, chunks = [], []
    for name, binary in wanted:
        array = np.asarray(labels if name == "predict" else proba)
        datatype, array = _datatype(array)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            chunk = _to_bytes(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            tensor["data"] = array.reshape(-1).tolist()
        outputs.append(tensor)
    body = orjson.dumps({"model_name": model[0], "model_version": model[1], "id": request_id, "outputs": outputs})
    if not chunks:
        return body, None
    return body + b"".join(chunks), len(body)


def _datatype(array: Any) -> tuple[str, Any]:
    kind = array.dtype.kind
    if kind == "f":
        return "FP64", array.astype("<f8", copy=False)
    if kind in "iu":
        return "INT64", array.astype("<i8", copy=False)
    if kind == "b":
        return "BOOL", array
    return "BYTES", array


def _to_bytes(array: Any, datatype: str) -> bytes:
    if datatype != "BYTES":
        return np.ascontiguousarray(array).tobytes()
    encoded = [str(v).encode() for v in array.reshape(-1).tolist()]
    return b"".join(struct.pack("<I", len(b)) + b for b in encoded)


def model_metadata(name: str, version: str, schema: InputSchema, labels_type: str, classes: int | None) -> Any:
    outputs = [{"name": "predict", "datatype": labels_type, "shape": [-1]}]
    if classes is not None:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, classes]})
    return {
        "name": name,
        "versions": [version],
        "platform": "sklearn",
        "inputs": [{"name": c.name, "datatype": DATATYPE_OF_SIGNATURE[c.type], "shape": [-1]} for c in schema.columns],
        "outputs": outputs,
    }
