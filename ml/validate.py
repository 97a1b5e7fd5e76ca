"""Check a DataFrame against its dataset spec and report every violation at once.

Validation never stops at the first problem: a user fixing a dataset wants the whole list. Each
violation is data (kind, column, message, count) so the CLI can print it as a table or as JSON and
training can refuse to run on a failing dataset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml.spec import ColumnSpec, ColumnType, DatasetSpec
from ml.validation_report import Kind, ValidationReport, Violation

if TYPE_CHECKING:
    import pandas as pd

MAX_EXAMPLES = 5


class DataValidationError(RuntimeError):
    """Raised by training when the dataset fails validation; carries the report."""

    def __init__(self, report: ValidationReport) -> None:
        kinds = sorted({str(v.kind) for v in report.violations})
        super().__init__(
            f"dataset {report.dataset!r} failed validation with {len(report.violations)} violation(s) "
            f"({', '.join(kinds)}); run `mlops data validate SPEC` for the full list"
        )
        self.report = report


def validate_frame(frame: pd.DataFrame, spec: DatasetSpec) -> ValidationReport:
    found: list[Violation] = []
    expected = [*spec.columns, spec.target]
    present = set(map(str, frame.columns))
    if frame.empty:
        found.append(Violation(Kind.EMPTY, None, "the dataset has no rows"))
    elif len(frame) < spec.checks.min_rows:
        found.append(
            Violation(Kind.TOO_FEW_ROWS, None, f"{len(frame)} rows, fewer than checks.min_rows={spec.checks.min_rows}")
        )
    for name in expected:
        if name not in present:
            found.append(Violation(Kind.MISSING_COLUMN, name, f"column {name!r} is in the spec but not in the data"))
    if spec.checks.extra_columns == "error":
        for name in sorted(present - set(expected)):
            found.append(Violation(Kind.EXTRA_COLUMN, name, f"column {name!r} is not in the spec (add it, or drop it)"))
    if not frame.empty:
        for name, column_spec in spec.columns.items():
            if name in present:
                found.extend(_check_column(frame[name], name, column_spec))
        if spec.target in present:
            found.extend(_check_target(frame[spec.target], spec))
        found.extend(_check_duplicates(frame, spec))
    return ValidationReport(spec.name, len(frame), len(frame.columns), found)


def _examples(values: pd.Series) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values.drop_duplicates().head(MAX_EXAMPLES)]


def _outside(values: pd.Series, allowed: set[str]) -> pd.Series:
    """The values whose string form is not in ``allowed``; compares distinct values only (fast on 1M rows)."""
    import pandas as pd

    bad = [value for value in pd.unique(values) if str(value) not in allowed]
    return values[values.isin(bad)] if bad else values.iloc[0:0]


def _check_column(series: pd.Series, name: str, spec: ColumnSpec) -> list[Violation]:
    import pandas as pd
    from pandas.api import types as ptypes

    found: list[Violation] = []
    nulls = int(series.isna().sum())
    rate = nulls / len(series)
    if rate > spec.allowed_null_rate:
        allowed = "no nulls (nullable: false)" if not spec.nullable else f"at most {spec.allowed_null_rate:.2%}"
        found.append(
            Violation(Kind.NULL_RATE, name, f"{rate:.2%} nulls ({nulls} rows); the spec allows {allowed}", nulls)
        )
    values = series.dropna()
    if spec.type is ColumnType.CATEGORY:
        if spec.categories is not None:
            unknown = _outside(values, set(spec.categories))
            if len(unknown):
                found.append(
                    Violation(
                        Kind.UNKNOWN_CATEGORY,
                        name,
                        f"{len(unknown)} values outside the allowed categories {spec.categories}",
                        len(unknown),
                        _examples(unknown.astype(str)),
                    )
                )
        return found
    if not ptypes.is_numeric_dtype(values) or ptypes.is_bool_dtype(values):
        coerced = pd.to_numeric(values, errors="coerce")
        bad = values[coerced.isna()]
        found.append(
            Violation(
                Kind.WRONG_TYPE,
                name,
                f"expected {spec.type} values, found dtype {series.dtype} with {len(bad)} non-numeric values",
                len(bad),
                _examples(bad.astype(str)),
            )
        )
        values = coerced.dropna()
    if spec.type is ColumnType.INT and ptypes.is_float_dtype(values):
        fractional = values[values != values.round()]
        if len(fractional):
            found.append(
                Violation(
                    Kind.WRONG_TYPE,
                    name,
                    f"expected int values, found {len(fractional)} with a fractional part",
                    len(fractional),
                    _examples(fractional),
                )
            )
    found.extend(_check_range(values, name, spec.min, spec.max))
    return found


def _check_range(values: pd.Series, name: str, low: float | None, high: float | None) -> list[Violation]:
    if low is None and high is None:
        return []
    import pandas as pd

    never = pd.Series(False, index=values.index)
    too_low = values < low if low is not None else never
    too_high = values > high if high is not None else never
    outside = values[too_low | too_high]
    if not len(outside):
        return []
    bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    return [
        Violation(
            Kind.OUT_OF_RANGE,
            name,
            f"{len(outside)} values outside {bounds} (seen {outside.min()}..{outside.max()})",
            len(outside),
            _examples(outside),
        )
    ]


def _check_target(series: pd.Series, spec: DatasetSpec) -> list[Violation]:
    import pandas as pd
    from pandas.api import types as ptypes

    name = spec.target
    found: list[Violation] = []
    nulls = int(series.isna().sum())
    if nulls:
        found.append(Violation(Kind.NULL_RATE, name, f"the target has {nulls} null values; label every row", nulls))
    values = series.dropna()
    if not spec.task.is_classification:
        if not ptypes.is_numeric_dtype(values):
            found.append(Violation(Kind.WRONG_TYPE, name, f"a regression target must be numeric, not {series.dtype}"))
            return found
        return found + _check_range(values, name, spec.target_min, spec.target_max)
    seen = {str(v) for v in pd.unique(values)}
    if spec.labels is not None:
        allowed = {str(label) for label in spec.labels}
        unknown = _outside(values, allowed)
        if len(unknown):
            found.append(
                Violation(
                    Kind.LABEL_SET,
                    name,
                    f"{len(unknown)} rows have labels outside {spec.labels}",
                    len(unknown),
                    _examples(unknown.astype(str)),
                )
            )
        absent = sorted(allowed - seen)
        if absent:
            found.append(Violation(Kind.LABEL_SET, name, f"labels {absent} never occur; every class needs rows"))
    minimum = 2 if spec.task.value == "binary" else 3
    if len(seen) < minimum:
        found.append(
            Violation(Kind.LABEL_SET, name, f"{len(seen)} distinct labels; a {spec.task} task needs {minimum}+")
        )
    if spec.task.value == "binary" and len(seen) > 2:
        found.append(Violation(Kind.LABEL_SET, name, f"{len(seen)} distinct labels in a binary task"))
    return found


def _check_duplicates(frame: pd.DataFrame, spec: DatasetSpec) -> list[Violation]:
    import pandas as pd

    # Hash each row once (vectorised) and look for repeated hashes: DataFrame.duplicated on a million
    # rows with categorical columns takes seconds. A 64-bit collision is negligible at these sizes.
    duplicated = int(pd.util.hash_pandas_object(frame, index=False).duplicated().sum())
    rate = duplicated / len(frame)
    if rate <= spec.checks.max_duplicate_rate:
        return []
    return [
        Violation(
            Kind.DUPLICATES,
            None,
            f"{duplicated} duplicated rows ({rate:.2%}); checks.max_duplicate_rate is "
            f"{spec.checks.max_duplicate_rate:.2%}",
            duplicated,
        )
    ]
