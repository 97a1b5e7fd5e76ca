"""Which code produced a model: the git commit of a directory and whether its tree had local changes."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

UNKNOWN = "unknown"


@dataclass(frozen=True)
class GitInfo:
    commit: str
    dirty: bool | None

    @property
    def dirty_tag(self) -> str:
        return UNKNOWN if self.dirty is None else str(self.dirty).lower()


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("git %s failed: %s", " ".join(args), exc)
        return None
    return done.stdout if done.returncode == 0 else None


def git_info(directory: Path) -> GitInfo:
    """Commit and dirtiness of the repository containing ``directory``; ``unknown`` outside a repository."""
    commit = _git(["rev-parse", "HEAD"], directory)
    if commit is None:
        log.warning("%s is not inside a git repository; git.commit will be %r", directory, UNKNOWN)
        return GitInfo(UNKNOWN, None)
    # Untracked files count: a new module that the model's code imports changes what ran.
    status = _git(["status", "--porcelain"], directory)
    return GitInfo(commit.strip(), None if status is None else bool(status.strip()))
