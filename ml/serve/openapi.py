"""The OpenAPI document of the server, with the request schema generated from the model signature."""

from __future__ import annotations

from typing import Any

from ml.serve.errors import STATUS_BY_KIND
from ml.serve.schema import JSON_TYPE, InputSchema


def _record_schema(schema: InputSchema | None) -> dict[str, Any]:
    if schema is None:
        return {"type": "object"}
    props = {c.name: {"type": JSON_TYPE[c.type], **({} if c.required else {"nullable": True})} for c in schema.columns}
    return {
        "type": "object",
        "properties": props,
        "required": [c.name for c in schema.columns if c.required],
        "additionalProperties": False,
    }


def openapi_document(name: str, version: str, schema: InputSchema | None, max_rows: int) -> dict[str, Any]:
    record = _record_schema(schema)
    records = {"type": "array", "items": record, "minItems": 1, "maxItems": max_rows}
    columns = {
        "type": "object",
        "properties": {
            k: {"type": "array", "items": v, "minItems": 1, "maxItems": max_rows}
            for k, v in record.get("properties", {}).items()
        },
        "required": record.get("required", []),
        "additionalProperties": False,
    }
    error = {
        "type": "object",
        "required": ["error", "message", "errors"],
        "properties": {
            "error": {"type": "string", "enum": sorted(STATUS_BY_KIND)},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }
    error_responses = {
        str(code): {"description": "error", "content": {"application/json": {"schema": error}}}
        for code in (400, 413, 415, 422)
    }
    prediction = {
        "type": "object",
        "required": ["model_name", "model_version", "request_id", "predictions"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "request_id": {"type": "string"},
            "predictions": {"type": "array"},
            "probabilities": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "classes": {"type": "array"},
        },
    }
    simple = {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{name} model server", "version": version},
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict a batch of rows (records or columnar JSON)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        records,
                                        {"type": "object", "required": ["records"], "properties": {"records": records}},
                                        {"type": "object", "required": ["columns"], "properties": {"columns": columns}},
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "predictions", "content": {"application/json": {"schema": prediction}}},
                        **error_responses,
                    },
                }
            },
            "/invocations": {
                "post": {
                    "summary": "MLflow scoring protocol: dataframe_split, dataframe_records, instances or inputs "
                    "(JSON, optional params) or text/csv; answers {predictions: [...]} like `mlflow models serve`",
                    "responses": {**simple, **error_responses},
                }
            },
            "/ping": {"get": {"summary": "MLflow's liveness (a bare newline)", "responses": simple}},
            "/version": {"get": {"summary": "MLflow scoring protocol version", "responses": simple}},
            "/v2/models/{name}/infer": {
                "post": {
                    "summary": "Open Inference Protocol v2: one tensor per column or one 2-D tensor in signature "
                    "order; FP64/FP32/INT64/BOOL/BYTES; binary tensor data (Inference-Header-Content-Length)",
                    "responses": {**simple, **error_responses},
                }
            },
            "/health": {"get": {"summary": "Liveness", "responses": simple}},
            "/ready": {"get": {"summary": "Readiness: the model is loaded", "responses": simple}},
            "/metadata": {
                "get": {"summary": "Model name, version, alias, signature, run id, data hash", "responses": simple}
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}
                    },
                }
            },
        },
    }
