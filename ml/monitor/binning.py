"""Exact bin indices against sorted edges, several times faster than a binary search per value.

``np.searchsorted`` costs a branchy binary search per value (~60 ns on these machines), which dominates
a monitoring pass. Here the edge range is cut into a uniform grid; a value's grid cell comes from one
multiply, and each cell knows how many edges lie below it plus the (at most two) edges inside it, so the
bin is ``base[cell] + (x >= c1[cell]) + (x >= c2[cell])``: gathers and compares, no branches. Cells are
widened by a small margin so floating-point rounding of the cell index cannot skip an edge; the few
cells crowded with more than two edges fall back to ``searchsorted`` for their values only. The result
equals ``np.searchsorted(edges, x, side="right")`` for every finite ``x``.
"""

from __future__ import annotations

import numpy as np

_MAX_CANDIDATES = 2


class GridBinner:
    """Maps finite float64 values to ``searchsorted(edges, x, side="right")``, computed by grid lookup."""

    def __init__(self, edges: np.ndarray, cells: int | None = None) -> None:
        self.edges = np.asarray(edges, dtype="float64")
        self.exact_only = self.edges.size < 2
        if self.exact_only:
            return
        lo, hi = float(self.edges[0]), float(self.edges[-1])
        cells = cells or int(min(1 << 16, max(1024, 64 * self.edges.size)))
        width = (hi - lo) / cells
        margin = width * 1e-6 + 16 * np.finfo("float64").eps * max(abs(lo), abs(hi))
        if width <= 0 or margin > width / 4:
            self.exact_only = True
            return
        self.lo, self.scale, self.cells = lo, 1.0 / width, cells
        starts = lo + (np.arange(cells + 2) - 1) * width - margin
        ends = lo + np.arange(cells + 2) * width + margin
        starts[0], ends[-1] = -np.inf, np.inf
        first = np.searchsorted(self.edges, starts, side="left")
        last = np.searchsorted(self.edges, ends, side="left")
        crowded = (last - first) > _MAX_CANDIDATES
        # Narrow bin indices halve the memory traffic of the adds below; a profile has at most ~100 edges.
        self.base = first.astype(np.int16 if self.edges.size < 32_000 else np.int64)
        padded = np.concatenate([self.edges, [np.inf] * _MAX_CANDIDATES])
        self.candidates = [
            np.where(first + k < last, padded[np.minimum(first + k, padded.size - 1)], np.inf)
            for k in range(_MAX_CANDIDATES)
        ]
        self.crowded = crowded if crowded.any() else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.exact_only:
            return np.searchsorted(self.edges, x, side="right")
        pos = (x - self.lo) * self.scale
        pos += 1.0
        np.clip(pos, 0.0, self.cells + 1, out=pos)
        cell = pos.astype(np.intp)
        bins = np.take(self.base, cell)
        for candidate in self.candidates:
            bins += np.take(candidate, cell) <= x
        if self.crowded is not None:
            mask = self.crowded[cell]
            if mask.any():
                bins[mask] = np.searchsorted(self.edges, x[mask], side="right")
        return bins
