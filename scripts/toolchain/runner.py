"""Runs the requested steps in order, timing each and collecting failures instead of stopping."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from toolchain.context import Context
from toolchain.system import BootstrapError

log = logging.getLogger("bootstrap")

StepFn = Callable[[Context], str]


@dataclass(frozen=True)
class Step:
    name: str
    summary: str
    run: StepFn
    check: StepFn


@dataclass(frozen=True)
class Outcome:
    step: str
    ok: bool
    detail: str
    seconds: float


def execute(ctx: Context, steps: Sequence[Step], check_only: bool) -> list[Outcome]:
    """Run (or check) every step; one failing step does not hide the state of the others."""
    outcomes = []
    for step in steps:
        log.info("==> %s: %s", step.name, step.summary)
        started = time.monotonic()
        try:
            detail = (step.check if check_only else step.run)(ctx)
            ok = True
        except BootstrapError as exc:
            detail, ok = str(exc), False
        seconds = time.monotonic() - started
        outcomes.append(Outcome(step.name, ok, detail, seconds))
        if ok:
            log.info("<== %s: ok in %.1fs: %s", step.name, seconds, detail)
        else:
            log.error("<== %s: FAILED after %.1fs: %s", step.name, seconds, detail)
    return outcomes


def report(outcomes: Sequence[Outcome]) -> int:
    total = sum(o.seconds for o in outcomes)
    log.info("summary (%.1fs):", total)
    for o in outcomes:
        log.info("  %-10s %-6s %7.1fs", o.step, "ok" if o.ok else "FAILED", o.seconds)
    failed = [o.step for o in outcomes if not o.ok]
    if failed:
        log.error("failed steps: %s (each error above names the fix)", ", ".join(failed))
        return 1
    return 0
