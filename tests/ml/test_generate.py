"""The synthetic dataset generator: seeded, typed, fast, and with the drift it is asked for."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.generate import CATEGORICAL, NUMERIC, TARGET, GenerateError, generate, parse_drift
from ml.spec import load_dataset_spec
from ml.validate import validate_frame

SPEC = Path(__file__).resolve().parents[2] / "examples" / "generated" / "dataset.yaml"


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    pd.testing.assert_frame_equal(generate(2000, seed=1), generate(2000, seed=1))
    assert not generate(2000, seed=1).equals(generate(2000, seed=2))


def test_columns_types_and_the_example_spec_accepts_it() -> None:
    frame = generate(5000, seed=0)
    assert list(frame.columns) == [*NUMERIC, *CATEGORICAL, TARGET]
    assert set(frame[TARGET].unique()) == {0, 1} and 0.1 < frame[TARGET].mean() < 0.6
    assert validate_frame(frame, load_dataset_spec(SPEC)).ok


def test_numeric_drift_shifts_the_feature_by_the_amount() -> None:
    base, drifted = generate(20_000, seed=3), generate(20_000, seed=3, drift={"age": 10.0})
    assert drifted["age"].mean() - base["age"].mean() == pytest.approx(10.0)
    pd.testing.assert_series_equal(base["income"], drifted["income"])


def test_categorical_drift_moves_rows_to_the_last_category() -> None:
    base, drifted = generate(20_000, seed=3), generate(20_000, seed=3, drift={"plan": 0.5})
    last = CATEGORICAL["plan"][0][-1]
    assert (base["plan"] == last).mean() == pytest.approx(0.1, abs=0.02)
    assert (drifted["plan"] == last).mean() == pytest.approx(0.55, abs=0.02)


def test_a_million_rows_quickly() -> None:
    started = time.perf_counter()
    frame = generate(1_000_000, seed=0)
    elapsed = time.perf_counter() - started
    assert len(frame) == 1_000_000 and frame.notna().all().all()
    # About 1.5 s on a shared, loaded 2-core machine; the bound leaves room for noisier neighbours.
    assert elapsed < 8.0, f"generating 1M rows took {elapsed:.1f} s"


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(GenerateError, match="unknown column 'agee'"):
        generate(10, drift={"agee": 1.0})
    with pytest.raises(GenerateError, match=r"within \[0, 1\]"):
        generate(10, drift={"plan": 2.0})
    with pytest.raises(GenerateError, match="rows must be at least 1"):
        generate(0)
    assert parse_drift(["age=5", "plan=0.25"]) == {"age": 5.0, "plan": 0.25}
    for bad in ("age", "age=x", "=3"):
        with pytest.raises(GenerateError, match="COLUMN=AMOUNT"):
            parse_drift([bad])
    assert np.isfinite(generate(10, seed=0)[list(NUMERIC)].to_numpy()).all()
