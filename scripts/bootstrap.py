#!/usr/bin/env python3
"""Set up everything the platform needs on this machine, idempotently.

    python3 scripts/bootstrap.py                      # every step
    python3 scripts/bootstrap.py --steps pulumi,plugins
    python3 scripts/bootstrap.py --check              # report only, change nothing

Stdlib only: it runs before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036 - a clear message instead of an ImportError
    sys.exit(f"bootstrap needs Python 3.11 or newer (this is {sys.version.split()[0]}): run it with python3.11")

from toolchain.context import Context
from toolchain.runner import execute, report
from toolchain.steps import STEPS

log = logging.getLogger("bootstrap")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma-separated subset of: {', '.join(STEPS)} (default: all, in that order)",
    )
    parser.add_argument("--check", action="store_true", help="report the state of each step, change nothing")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="[bootstrap] %(message)s", stream=sys.stdout
    )
    wanted = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STEPS]
    if unknown or not wanted:
        log.error("unknown step(s) %s: choose from %s", ", ".join(unknown) or "(none)", ", ".join(STEPS))
        return 2
    # Keep the canonical order whatever order was typed: later steps use what earlier ones made.
    steps = [step for name, step in STEPS.items() if name in wanted]
    ctx = Context(repo=Path(__file__).resolve().parents[1])
    log.info("toolchain cache: %s", ctx.cache)
    return report(execute(ctx, steps, check_only=args.check))


if __name__ == "__main__":
    sys.exit(main())
