"""The one seam between the bootstrap and the machine: processes, PATH look-ups and downloads.

Steps receive a `System` instead of calling subprocess or urllib themselves, so tests drive the
real decision logic with fake executables on a PATH of their own and URLs of their choosing.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("bootstrap")


class BootstrapError(Exception):
    """A failure the user can act on: what went wrong, and what to do about it."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}\n  fix: {fix}")
        self.problem = problem
        self.fix = fix


class FetchError(Exception):
    """A download that did not happen (unreachable, refused, timed out)."""


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class System:
    """Runs commands against one PATH; `env` overrides are applied on top of os.environ."""

    path: str = field(default_factory=lambda: os.environ.get("PATH", ""))
    env: Mapping[str, str] = field(default_factory=dict)

    def which(self, name: str, exclude: Sequence[Path] = ()) -> Path | None:
        """First executable `name` on this PATH, skipping the directories in `exclude`."""
        skipped = {p.resolve() for p in exclude}
        for entry in self.path.split(os.pathsep):
            if not entry or Path(entry).resolve() in skipped:
                continue
            candidate = Path(entry) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        return None

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env["PATH"] = self.path
        env.update(extra or {})
        return env

    def run(
        self,
        cmd: Sequence[str | Path],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = 600,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run and capture; on failure raise with the command and the tail of its output."""
        argv = [str(c) for c in cmd]
        try:
            proc = subprocess.run(
                argv,
                cwd=cwd,
                env=self.environ(env),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise BootstrapError(f"`{argv[0]}` is not installed or not executable", "install it") from exc
        except subprocess.TimeoutExpired as exc:
            raise BootstrapError(
                f"`{' '.join(argv)}` did not finish within {timeout:.0f}s",
                "check the machine's load and network, then run the bootstrap again",
            ) from exc
        if check and proc.returncode != 0:
            raise BootstrapError(
                f"`{' '.join(argv)}` failed (exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}",
                "read the output above; re-running the bootstrap resumes where it stopped",
            )
        return proc

    def run_logged(
        self,
        cmd: Sequence[str | Path],
        log_file: Path,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = 3600,
    ) -> None:
        """Run a long command with its output in `log_file` (builds print thousands of lines)."""
        argv = [str(c) for c in cmd]
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8") as sink:
            sink.write(f"$ {' '.join(argv)}\n")
            sink.flush()
            try:
                rc = subprocess.run(
                    argv,
                    cwd=cwd,
                    env=self.environ(env),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                ).returncode
            except FileNotFoundError as exc:
                raise BootstrapError(f"`{argv[0]}` is not installed", "install it") from exc
            except subprocess.TimeoutExpired as exc:
                raise BootstrapError(
                    f"`{' '.join(argv)}` did not finish within {timeout:.0f}s (log: {log_file})",
                    "run the bootstrap again: finished work is cached and the next run continues from it",
                ) from exc
        if rc != 0:
            text = log_file.read_text(encoding="utf-8", errors="replace")
            raise BootstrapError(
                f"`{' '.join(argv)}` failed (exit {rc}); last lines of {log_file}:\n{_tail(text)}",
                f"read {log_file}; re-running the bootstrap resumes where it stopped",
            )

    def fetch(self, url: str, dest: Path, timeout: float) -> None:
        """Download `url` to `dest`, or raise FetchError; never leaves a partial file behind."""
        partial = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            partial.unlink(missing_ok=True)
            raise FetchError(f"{url}: {exc}") from exc
        partial.replace(dest)
