"""Wall-clock seconds per training phase (load, validate, search, fit, evaluate, tracking, register).

The phases are reported by `mlops train` and by the training benchmark, so a step that gets slower shows
up under its own name.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class PhaseTimer:
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the block's duration to phase `name` (a phase may run more than once)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
