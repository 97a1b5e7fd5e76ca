"""Counting a body's JSON values from its bytes, before parsing: exact against a reference tokenizer."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.serve.errors import RequestError
from ml.serve.jsonscan import values_over
from ml.serve.schema import ColumnSpec, InputSchema, loads, value_budget

tricky_text = st.text(alphabet=',"\\{}[]ab\u00e9', max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=40,
)


def commas_outside_strings(text: str) -> int:
    count, inside, escaped = 0, False, False
    for ch in text:
        if inside:
            escaped, inside = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            inside = True
        elif ch == ",":
            count += 1
    return count


@settings(max_examples=300, deadline=None)
@given(value=values, budget=st.integers(min_value=0, max_value=40))
def test_the_count_is_exact_when_over_the_budget(value: Any, budget: int) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    expected = commas_outside_strings(raw.decode())
    got = values_over(raw, budget)
    if expected <= budget:
        assert got is None
    elif len(raw) >= 2 * budget:
        assert got == expected


def test_commas_inside_strings_and_escaped_quotes_do_not_count() -> None:
    raw = json.dumps(["a,b,c" * 20, 'x\\",,,' * 20, "\\\\", ",,,,"]).encode()
    assert values_over(raw, 2) == 3


SCHEMA = InputSchema(tuple(ColumnSpec(f"c{i}", "double") for i in range(7)))


def test_fifteen_megabytes_of_empty_records_are_refused_before_parsing() -> None:
    raw = b'{"records": [' + b"{}," * 4_999_999 + b"{}]}"
    times = []
    for _ in range(3):  # the best of three: the machine is shared
        start = time.perf_counter()
        with pytest.raises(RequestError) as caught:
            loads(raw, max_values=value_budget(SCHEMA, 10_000))
        times.append(time.perf_counter() - start)
    assert caught.value.status == 413 and caught.value.kind == "batch_too_large"
    assert "4999999 JSON values" in str(caught.value)
    assert min(times) < 0.1, f"refusing took {min(times) * 1e3:.0f} ms (parsing it takes about 900)"


def test_many_strings_and_escapes_are_counted_in_linear_time() -> None:
    raw = b"[" + b'"a\\",",' * 1_500_000 + b"1]"
    start = time.perf_counter()
    assert values_over(raw, 360_000) == 1_500_000
    assert time.perf_counter() - start < 1.0


def test_a_full_batch_within_the_row_limit_is_parsed() -> None:
    rows = [{f"c{i}": 1.5 for i in range(7)}] * 10_000
    raw = json.dumps(rows).encode()
    assert loads(raw, max_values=value_budget(SCHEMA, 10_000)) == rows
    text_rows = [{"c0": "a, b, c, d, e, f, g, h, i, j" * 10}] * 10_000
    raw = json.dumps(text_rows).encode()
    assert loads(raw, max_values=value_budget(SCHEMA, 10_000)) == text_rows
