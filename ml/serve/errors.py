"""Client errors of the model server: each names what is wrong, where, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_REPORTED_ERRORS = 20

# Kind -> HTTP status. Every kind a client can cause maps to a 4xx.
STATUS_BY_KIND: dict[str, int] = {
    "malformed_json": 400,
    "bad_request_shape": 400,
    "missing_column": 422,
    "extra_column": 422,
    "wrong_type": 422,
    "null_value": 422,
    "empty_batch": 422,
    "ragged_columns": 422,
    "invalid_value": 422,
    "unknown_category": 422,
    "body_too_large": 413,
    "batch_too_large": 413,
    "unsupported_media_type": 415,
    "request_timeout": 408,
    "header_too_large": 431,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_ready": 503,
    "internal": 500,
}


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    column: str | None = None
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.column is not None:
            out["column"] = self.column
        if self.row is not None:
            out["row"] = self.row
        return out


@dataclass
class RequestError(Exception):
    """One or more problems with a request; the first one decides the status code."""

    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def single(cls, kind: str, message: str, column: str | None = None, row: int | None = None) -> RequestError:
        return cls([Problem(kind, message, column, row)])

    @property
    def kind(self) -> str:
        return self.problems[0].kind

    @property
    def status(self) -> int:
        return STATUS_BY_KIND.get(self.kind, 400)

    def body(self) -> dict[str, Any]:
        shown = self.problems[:MAX_REPORTED_ERRORS]
        out: dict[str, Any] = {
            "error": self.kind,
            "message": shown[0].message,
            "errors": [p.as_dict() for p in shown],
        }
        if len(self.problems) > len(shown):
            out["more_errors"] = len(self.problems) - len(shown)
        return out

    def __str__(self) -> str:
        return "; ".join(p.message for p in self.problems[:3])
