"""Mutation testing of the decisions: promotion gates, drift, settings, request validation, policy rules.

Runs mutmut (installed into this venv when missing; not a project dependency, not run in CI) over the
modules listed in `[tool.mutmut] only_mutate` of pyproject.toml, with only the fast unit tests listed in
`pytest_add_cli_args_test_selection`: no Docker, no servers. The run happens in a copy of the checkout
(outside it, in the user's cache dir) so that mutmut's `mutants/` tree never lands in the clone and edits
made meanwhile do not leak into a run. Prints the kill rate per module and in total.

    .venv/bin/python scripts/mutation.py              # full run from a fresh copy
    .venv/bin/python scripts/mutation.py --keep       # reuse the last run's results where code is unchanged
    .venv/bin/python scripts/mutation.py --report     # only print the last run's scores
    .venv/bin/python scripts/mutation.py --keep 'ml.monitor.drift*'   # re-test these mutants only
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MUTMUT_VERSION = "3.8.1"
ROOT = Path(__file__).resolve().parents[1]
PRAGMA = "pragma: no mutate"
# mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code), folded into what the score needs.
KILLED = {1, 3, 37}  # a test failed, pytest failed internally, the type checker refused the mutant
TIMEOUT = {36, -24, 24, 152, 255}  # the tests did not finish: the mutant changed behaviour (counted as killed)
SURVIVED = {0}
NO_TESTS = {5, 33}


def default_workdir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mlops-platform" / "mutation"


def ensure_mutmut() -> None:
    """mutmut in this interpreter's environment, pinned; installed with this interpreter's pip if missing."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        if version("mutmut") == MUTMUT_VERSION:
            return
    except PackageNotFoundError:
        pass
    print(f"installing mutmut=={MUTMUT_VERSION} into {sys.prefix}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"mutmut=={MUTMUT_VERSION}"], check=True)


def checkout_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files of the checkout, as they are on disk now."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [name for name in out.split("\0") if name and (ROOT / name).is_file()]


def sync_copy(workdir: Path, fresh: bool) -> None:
    """Mirror the checkout into `workdir` (changed files only, unless `fresh`); mutmut's results stay."""
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    wanted = set(checkout_files())
    for name in wanted:
        source, copy = ROOT / name, workdir / name
        if copy.is_file() and copy.read_bytes() == source.read_bytes():
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
    for path in workdir.rglob("*"):
        relative = path.relative_to(workdir).as_posix()
        if path.is_file() and not relative.startswith("mutants/") and relative not in wanted:
            path.unlink()


def config(workdir: Path) -> dict[str, list[str]]:
    return tomllib.loads((workdir / "pyproject.toml").read_text())["tool"]["mutmut"]


def _matching(workdir: Path, patterns: list[str]) -> set[str]:
    found = {path.relative_to(workdir).as_posix() for pattern in patterns for path in workdir.glob(pattern)}
    return {f for f in found if f.endswith(".py") and any(fnmatch.fnmatch(f, p) for p in patterns)}


def scoped_files(workdir: Path) -> list[str]:
    settings = config(workdir)
    return sorted(_matching(workdir, settings["only_mutate"]) - excluded_files(workdir))


def excluded_files(workdir: Path) -> set[str]:
    return _matching(workdir, config(workdir).get("do_not_mutate", []))


def excluded_lines(workdir: Path, path: str) -> int:
    """Lines mutmut leaves alone: `# pragma: no mutate` and the config's `do_not_mutate_patterns`."""
    patterns = [re.compile(p) for p in config(workdir).get("do_not_mutate_patterns", [])]
    lines = (workdir / path).read_text().splitlines()
    return sum(PRAGMA in line or any(p.search(line) for p in patterns) for line in lines)


@dataclass
class ModuleScore:
    path: str
    counts: Counter[str]
    excluded: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def killed(self) -> int:
        return self.counts["killed"] + self.counts["timeout"]

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 100.0


def _status(code: int | None) -> str:
    if code is None:
        return "not checked"
    for name, codes in (("killed", KILLED), ("timeout", TIMEOUT), ("survived", SURVIVED), ("no tests", NO_TESTS)):
        if code in codes:
            return name
    return "suspicious"


def scores(workdir: Path) -> list[ModuleScore]:
    result = []
    for path in scoped_files(workdir):
        meta = workdir / "mutants" / f"{path}.meta"
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        result.append(ModuleScore(path, Counter(_status(c) for c in codes.values()), excluded_lines(workdir, path)))
    return result


def survivors(workdir: Path) -> list[str]:
    names = []
    for path in scoped_files(workdir):
        meta = workdir / "mutants" / f"{path}.meta"
        if meta.exists():
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            names += [name for name, code in codes.items() if _status(code) not in {"killed", "timeout"}]
    return sorted(names)


def print_report(modules: list[ModuleScore], excluded: set[str], seconds: float | None) -> float:
    header = f"{'module':40} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} {'no tests':>8} {'score':>7}"
    print(header)
    print("-" * len(header))
    total = Counter[str]()
    for m in modules:
        total.update(m.counts)
        print(
            f"{m.path:40} {m.total:7} {m.counts['killed']:6} {m.counts['timeout']:7} {m.counts['survived']:8} "
            f"{m.counts['no tests']:8} {m.score:6.1f}%"
        )
    overall = ModuleScore("total", total, sum(m.excluded for m in modules))
    print("-" * len(header))
    print(
        f"{'total':40} {overall.total:7} {total['killed']:6} {total['timeout']:7} {total['survived']:8} "
        f"{total['no tests']:8} {overall.score:6.1f}%"
    )
    others = {k: v for k, v in total.items() if k not in {"killed", "timeout", "survived", "no tests"}}
    if others:
        print(f"other outcomes (counted as not killed): {others}")
    print(f"lines excluded ('# {PRAGMA}' or do_not_mutate_patterns): {overall.excluded}")
    for path in sorted(excluded):
        print(f"file excluded (do_not_mutate): {path}")
    if seconds is not None:
        print(f"run time: {seconds / 60:.1f} min, mutmut {MUTMUT_VERSION}")
    return overall.score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mutants", nargs="*", help="mutant name globs to (re-)test, e.g. 'ml.monitor.drift*'")
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="where the copy and results live")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's copy and results")
    parser.add_argument("--report", action="store_true", help="print the last run's scores, run nothing")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested in parallel (default 2)")
    parser.add_argument("--fail-under", type=float, default=90.0, help="exit 1 below this total score")
    parser.add_argument("--survivors", action="store_true", help="list the mutants not killed")
    args = parser.parse_args()

    seconds = None
    if not args.report:
        ensure_mutmut()
        sync_copy(args.workdir, fresh=not args.keep)
        started = time.monotonic()
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs), *args.mutants]
        run = subprocess.run(command, cwd=args.workdir, env=env)
        seconds = time.monotonic() - started
        if run.returncode != 0:
            print(f"mutmut failed (exit {run.returncode}) in {args.workdir}", file=sys.stderr)
            return run.returncode
    elif not (args.workdir / "mutants").is_dir():
        print(f"no results in {args.workdir}: run without --report first", file=sys.stderr)
        return 1
    if args.survivors:
        print("\n".join(survivors(args.workdir)) or "no survivors")
    score = print_report(scores(args.workdir), excluded_files(args.workdir), seconds)
    return 0 if score >= args.fail_under else 1


if __name__ == "__main__":
    sys.exit(main())
