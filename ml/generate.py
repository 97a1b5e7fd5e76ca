"""A seeded generator of a larger tabular dataset, for benchmarks and monitoring: numeric and categorical
columns, a binary target, and controllable drift.

The target follows a fixed logistic model of the features, so a shift of a feature (covariate drift)
changes the feature distribution and the label rate but not P(label | features): exactly what a drift
monitor should flag while a retrained model would stay as good. Everything is vectorised: a million rows
take well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

NUMERIC = ("age", "income", "balance", "tenure_months", "transactions", "utilisation")
CATEGORICAL: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "region": (("north", "south", "east", "west", "central"), (0.25, 0.2, 0.2, 0.2, 0.15)),
    "plan": (("basic", "plus", "premium"), (0.6, 0.3, 0.1)),
    "channel": (("web", "app", "branch", "phone"), (0.4, 0.35, 0.15, 0.1)),
}
TARGET = "churned"
_PLAN_EFFECT = {"basic": 0.4, "plus": 0.0, "premium": -0.6}
_CHANNEL_EFFECT = {"web": 0.0, "app": -0.2, "branch": 0.3, "phone": 0.5}


class GenerateError(ValueError):
    """Bad generator arguments; the message names the argument."""


def _check(rows: int, drift: Mapping[str, float]) -> None:
    if rows < 1:
        raise GenerateError(f"rows must be at least 1, got {rows}")
    for name in drift:
        if name not in NUMERIC and name not in CATEGORICAL:
            known = ", ".join((*NUMERIC, *CATEGORICAL))
            raise GenerateError(f"cannot drift unknown column {name!r}; choose one of {known}")
        amount = drift[name]
        if name in CATEGORICAL and not 0.0 <= amount <= 1.0:
            raise GenerateError(
                f"drift of categorical column {name!r} is the share of rows moved to its last category "
                f"and must be within [0, 1], got {amount}"
            )


def generate(rows: int, seed: int = 0, drift: Mapping[str, float] | None = None) -> pd.DataFrame:
    """``rows`` rows; ``drift`` shifts numeric columns by an amount (in their own units) and moves that
    share of rows of a categorical column to its last category."""
    import pandas as pd

    drift = dict(drift or {})
    _check(rows, drift)
    rng = np.random.default_rng(seed)
    numeric = {
        "age": rng.normal(45.0, 12.0, rows).clip(18, 95),
        "income": rng.lognormal(10.5, 0.5, rows),
        "balance": rng.gamma(2.0, 2500.0, rows),
        "tenure_months": rng.integers(0, 240, rows).astype("float64"),
        "transactions": rng.poisson(20.0, rows).astype("float64"),
        "utilisation": rng.beta(2.0, 5.0, rows),
    }
    for name in NUMERIC:
        numeric[name] = numeric[name] + drift.get(name, 0.0)
    codes = {}
    for name, (levels, weights) in CATEGORICAL.items():
        drawn = rng.choice(len(levels), size=rows, p=weights)
        if drift.get(name):
            moved = rng.random(rows) < drift[name]
            drawn[moved] = len(levels) - 1
        codes[name] = drawn
    logit = (
        -1.0
        - 0.03 * (numeric["age"] - 45.0)
        - 0.6 * (np.log(numeric["income"]) - 10.5)
        + 2.5 * (numeric["utilisation"] - 0.28)
        - 0.01 * (numeric["tenure_months"] - 120.0)
        - 0.02 * (numeric["transactions"] - 20.0)
        + np.array([_PLAN_EFFECT[v] for v in CATEGORICAL["plan"][0]])[codes["plan"]]
        + np.array([_CHANNEL_EFFECT[v] for v in CATEGORICAL["channel"][0]])[codes["channel"]]
    )
    target = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
    frame = pd.DataFrame(numeric)
    for name, (levels, _) in CATEGORICAL.items():
        # Categorical dtype: strings for a million rows would cost seconds to build and to write.
        frame[name] = pd.Categorical.from_codes(codes[name], categories=list(levels))
    frame[TARGET] = target
    return frame


def parse_drift(items: list[str]) -> dict[str, float]:
    """``["age=5", "plan=0.3"]`` -> ``{"age": 5.0, "plan": 0.3}``, with errors that show the expected form."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, amount = item.partition("=")
        try:
            out[name.strip()] = float(amount)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise GenerateError(f"--drift {item!r} must look like COLUMN=AMOUNT, e.g. --drift age=5")
    return out
