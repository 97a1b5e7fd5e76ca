"""Exact bin indices against sorted edges, several times faster than a binary search per value.

``np.searchsorted`` costs a branchy binary search per value (~60 ns on these machines), which dominates
a monitoring pass. Here the edge range is cut into a uniform grid; a value's grid cell comes from one
multiply, and each cell knows how many edges lie below it plus the (at most two) edges inside it, so the
bin is ``base[cell] + (x >= c1[cell]) + (x >= c2[cell])``: gathers and compares, no branches. Cells are
widened by a small margin so floating-point rounding of the cell index cannot skip an edge; the few
cells crowded with more than two edges fall back to ``searchsorted`` for their values only. The result
equals ``np.searchsorted(edges, x, side="right")`` for every finite ``x``.

Quantile edges are usually far wider apart than a cell, so no cell holds two edges and the second
gather is skipped. ``count`` writes every intermediate into a caller's ``Scratch``: a monitoring pass
bins cache-sized blocks, and fresh arrays per block would cost page faults and evict the block.
"""

from __future__ import annotations

import numpy as np

_MAX_CANDIDATES = 2


class Scratch:
    """Work arrays for binning up to ``size`` values at a time; one per thread, reused block after block."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.floats = np.empty(size, dtype=np.float64)
        self.cells = np.empty(size, dtype=np.intp)
        self.bins = np.empty(size, dtype=np.intp)
        self.flags = np.empty(size, dtype=bool)


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
        # Bin indices as intp: np.bincount takes nothing else, so any narrower type is converted per call.
        self.base = first.astype(np.intp)
        padded = np.concatenate([self.edges, [np.inf] * _MAX_CANDIDATES])
        # As many gathers as the most crowded cell that is not left to searchsorted needs.
        needed = int(np.max(np.where(crowded, 0, last - first)))
        self.candidates = [
            np.where(first + k < last, padded[np.minimum(first + k, padded.size - 1)], np.inf)
            for k in range(max(1, needed))
        ]
        self.crowded = crowded if crowded.any() else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype="float64")
        return self.bins(x, Scratch(x.size)).copy()

    def count(self, x: np.ndarray, counts: np.ndarray, scratch: Scratch) -> None:
        """Add the bin counts of finite ``x`` (at most ``scratch.size`` values) to ``counts``."""
        counts += np.bincount(self.bins(x, scratch), minlength=counts.size)

    def bins(self, x: np.ndarray, scratch: Scratch) -> np.ndarray:
        """Bin indices of finite ``x``, as a view into ``scratch`` (valid until its next use)."""
        if self.exact_only:
            return np.searchsorted(self.edges, x, side="right")
        n = x.size
        pos, cell, bins, flags = scratch.floats[:n], scratch.cells[:n], scratch.bins[:n], scratch.flags[:n]
        np.subtract(x, self.lo, out=pos)
        np.multiply(pos, self.scale, out=pos)
        np.add(pos, 1.0, out=pos)
        np.clip(pos, 0.0, self.cells + 1, out=pos)
        np.copyto(cell, pos, casting="unsafe")
        # Cells are clipped into the tables above, so no gather needs numpy's bounds check (mode="raise"
        # with out= also gathers into a temporary first).
        np.take(self.base, cell, out=bins, mode="clip")
        candidate = pos  # the cell positions are spent: the gathered edges reuse their memory
        for edges in self.candidates:
            np.take(edges, cell, out=candidate, mode="clip")
            np.less_equal(candidate, x, out=flags)
            np.add(bins, flags, out=bins)
        if self.crowded is not None:
            mask = self.crowded[cell]
            if mask.any():
                bins[mask] = np.searchsorted(self.edges, x[mask], side="right")
        return bins
