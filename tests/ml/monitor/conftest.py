"""Fixtures of the monitoring tests: a reference frame and its profile (helpers: tests.support.drift_data)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.support.drift_data import CATEGORICAL, NUMERIC, make_frame


@pytest.fixture(scope="session")
def reference_frame() -> pd.DataFrame:
    return make_frame(20_000, seed=1)


@pytest.fixture(scope="session")
def reference_profile(reference_frame: pd.DataFrame) -> dict:
    from ml.profile import build_reference_profile

    features = reference_frame[NUMERIC + CATEGORICAL]
    return build_reference_profile(features, reference_frame[["_prediction", "_proba"]])
