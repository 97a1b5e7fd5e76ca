"""Drift statistics computed from counts, so they work on histograms accumulated over any amount of data.

KS from binned CDFs: the reference keeps ~100 quantile bins, so the CDFs are compared exactly at the
bin edges only. Inside bin k the two CDFs move by the bin's reference mass p_k and live mass q_k, so
the binned statistic D_b satisfies D_b <= D <= D_b + max_k max(p_k, q_k). Without drift that gap is
about 0.01 with 100 quantile bins; with drift D_b is already large. D_b never exceeds D, so the p-value
computed from it is conservative: it cannot raise the false-alarm rate, and it loses power only for
shifts smaller than one bin. A bounded random sample would give an unbiased D instead, but with a
sampling error of about 1/sqrt(sample size) and a second pass or reservoir per column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as sps

# Pseudo-count per bin, so an empty bin gives a finite PSI instead of infinity.
_SMOOTHING = 0.5
PSI_GROUPS = 10


@dataclass(frozen=True)
class TestResult:
    """One drift test on one column."""

    statistic: float
    p_value: float | None = None


def coarse_groups(ref_counts: np.ndarray, groups: int = PSI_GROUPS) -> np.ndarray:
    """Group index of each fine bin, merging adjacent bins to about 1/groups of reference mass each.

    PSI over 100 sparse bins is dominated by sampling noise on small windows; over ten it is the
    conventional decile PSI, whose value under no drift is about (groups - 1) * (1/n + 1/N).
    """
    total = ref_counts.sum()
    if total == 0:
        return np.zeros(ref_counts.size, dtype=np.int64)
    cum_before = np.concatenate([[0], np.cumsum(ref_counts)[:-1]]) / total
    return np.minimum((cum_before * groups + 1e-9).astype(np.int64), groups - 1)


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    ref = np.asarray(ref_counts, dtype="float64") + _SMOOTHING
    cur = np.asarray(cur_counts, dtype="float64") + _SMOOTHING
    p = ref / ref.sum()
    q = cur / cur.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def psi_numeric(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    groups = coarse_groups(ref_counts)
    size = int(groups.max()) + 1
    return psi(np.bincount(groups, ref_counts, size), np.bincount(groups, cur_counts, size))


def ks_binned(ref_counts: np.ndarray, cur_counts: np.ndarray) -> TestResult:
    """Two-sample KS statistic from counts over shared bins, with the asymptotic p-value."""
    n = float(np.sum(ref_counts))
    m = float(np.sum(cur_counts))
    if n == 0 or m == 0:
        return TestResult(0.0, 1.0)
    d = float(np.max(np.abs(np.cumsum(ref_counts) / n - np.cumsum(cur_counts) / m)))
    n_eff = n * m / (n + m)
    return TestResult(d, float(special.kolmogorov(np.sqrt(n_eff) * d)) if d > 0 else 1.0)


def chi_squared(ref_counts: np.ndarray, cur_counts: np.ndarray) -> TestResult:
    """Chi-squared test of homogeneity on a 2 x K table (reference vs current category counts)."""
    table = np.vstack([ref_counts, cur_counts]).astype("float64")
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return TestResult(0.0, 1.0)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return TestResult(statistic, float(sps.chi2.sf(statistic, table.shape[1] - 1)))


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance in base 2: 0 for identical distributions, 1 for disjoint ones."""
    p = np.asarray(ref_counts, dtype="float64")
    q = np.asarray(cur_counts, dtype="float64")
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def _kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return float(np.sqrt(max(0.0, (_kl(p) + _kl(q)) / 2)))
