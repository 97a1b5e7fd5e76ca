"""One line and a duration per step: the lifecycle reports, the CLI decides how to print."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Reporter = Callable[[str, str, float], None]


def log_reporter(step: str, detail: str, seconds: float) -> None:
    log.info("%-22s %-60s %6.1fs", step, detail, seconds)


@dataclass
class StepResult:
    detail: str = ""


@dataclass
class Progress:
    report: Reporter = log_reporter
    started: float = field(default_factory=time.monotonic)
    steps: list[tuple[str, str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[StepResult]:
        """Time the block; its `detail` (set by the block) is reported with the duration."""
        result = StepResult()
        begun = time.monotonic()
        yield result
        seconds = time.monotonic() - begun
        self.steps.append((name, result.detail, seconds))
        self.report(name, result.detail, seconds)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
