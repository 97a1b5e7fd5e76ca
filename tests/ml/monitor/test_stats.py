"""Drift statistics against scipy's exact versions and known values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from ml.monitor import stats
from ml.monitor.binning import GridBinner
from ml.profile import numeric_profile


def test_psi_is_zero_for_identical_counts_and_grows_with_a_shift() -> None:
    ref = np.array([100, 200, 300, 400])
    # Not exactly zero: the 0.5 pseudo-count per bin weighs more in the smaller sample.
    assert stats.psi(ref, ref * 3) == pytest.approx(0.0, abs=1e-5)
    assert stats.psi(ref, np.array([400, 300, 200, 100])) > 0.5


def test_psi_matches_the_textbook_formula() -> None:
    ref, cur = np.array([5000, 5000]), np.array([2500, 7500])
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert stats.psi(ref, cur) == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-3)


def test_binned_ks_is_a_lower_bound_within_one_bin_of_scipy() -> None:
    rng = np.random.default_rng(0)
    reference, current = rng.normal(size=20_000), rng.normal(0.1, 1.1, size=5_000)
    profile = numeric_profile(reference)
    edges = np.asarray(profile["edges"])
    cur_counts = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1)
    binned = stats.ks_binned(np.asarray(profile["counts"]), cur_counts)
    exact = sps.ks_2samp(reference, current)
    max_mass = max(np.max(profile["counts"]) / reference.size, np.max(cur_counts) / current.size)
    assert binned.statistic <= exact.statistic + 1e-12
    assert exact.statistic - binned.statistic <= max_mass
    assert binned.p_value is not None and binned.p_value >= exact.pvalue * 0.5


def test_chi_squared_matches_scipy_contingency() -> None:
    ref, cur = np.array([500, 300, 200]), np.array([40, 35, 25])
    ours = stats.chi_squared(ref, cur)
    theirs = sps.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert ours.statistic == pytest.approx(theirs.statistic)
    assert ours.p_value == pytest.approx(theirs.pvalue)


def test_jensen_shannon_is_bounded_and_symmetric() -> None:
    a, b = np.array([10, 0, 0]), np.array([0, 0, 10])
    assert stats.jensen_shannon(a, b) == pytest.approx(1.0)
    assert stats.jensen_shannon(a, a) == pytest.approx(0.0)
    c = np.array([3, 5, 2])
    assert stats.jensen_shannon(a, c) == pytest.approx(stats.jensen_shannon(c, a))


def test_coarse_groups_give_about_ten_equal_mass_groups() -> None:
    groups = stats.coarse_groups(np.full(100, 10))
    assert np.bincount(groups).tolist() == [10] * 10


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@settings(max_examples=150, deadline=None)
@given(st.lists(finite, min_size=0, max_size=60, unique=True), st.lists(finite, min_size=1, max_size=200))
def test_grid_binner_equals_searchsorted(edges: list[float], values: list[float]) -> None:
    e = np.sort(np.asarray(edges, dtype="float64"))
    x = np.concatenate([np.asarray(values), e, np.nextafter(e, np.inf), np.nextafter(e, -np.inf)])
    assert np.array_equal(GridBinner(e)(x), np.searchsorted(e, x, side="right"))


@pytest.mark.parametrize("draw", ["lognormal", "pareto", "ties"])
def test_grid_binner_on_skewed_reference_quantiles(draw: str) -> None:
    rng = np.random.default_rng(4)
    ref = {
        "lognormal": lambda: rng.lognormal(0, 3, 50_000),
        "pareto": lambda: rng.pareto(0.5, 50_000),
        "ties": lambda: rng.integers(0, 5, 50_000).astype(float),
    }[draw]()
    edges = np.asarray(numeric_profile(ref)["edges"])
    x = np.concatenate([rng.choice(ref, 100_000), edges, [-1e300, 1e300]])
    assert np.array_equal(GridBinner(edges)(x), np.searchsorted(edges, x, side="right"))
