"""What validating a dataset found: every violation as data (kind, column, message, count, examples).

The CLI prints a report as a table or as JSON (`mlops data validate`); training refuses to run on a report
that is not ok (`ml.validate.DataValidationError`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    EMPTY = "empty"
    TOO_FEW_ROWS = "too_few_rows"
    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMN = "extra_column"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_CATEGORY = "unknown_category"
    NULL_RATE = "null_rate"
    DUPLICATES = "duplicates"
    LABEL_SET = "label_set"


@dataclass(frozen=True)
class Violation:
    kind: Kind
    column: str | None
    message: str
    count: int = 0
    examples: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    dataset: str
    rows: int
    columns: int
    violations: list[Violation]

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "ok": self.ok,
            "rows": self.rows,
            "columns": self.columns,
            "violations": [asdict(v) | {"kind": str(v.kind)} for v in self.violations],
        }
