"""The toolchain cache: content keys, atomic publication of build outputs, links into the venv."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

log = logging.getLogger("bootstrap")

# Never part of a source tree's identity: VCS data and build outputs written next to the sources.
_IGNORED = {".git", "__pycache__", "bin", "dist", "build", ".idea", ".vscode"}


def hash_files(paths: Iterable[Path], root: Path) -> str:
    """sha256 over relative names and contents, so a rename or an edit changes the key."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def hash_tree(root: Path) -> str:
    """Content key of a source directory (e.g. the language host), ignoring build outputs."""
    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and not _IGNORED.intersection(p.relative_to(root).parts[:-1]) and p.name not in _IGNORED
    ]
    return hash_files(files, root)


def is_complete(entry: Path) -> bool:
    return (entry / ".complete").is_file()


@contextlib.contextmanager
def locked(entry: Path) -> Iterator[None]:
    """Hold the entry's lock: a second bootstrap waits for the first build instead of repeating it."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    with entry.with_name(f".{entry.name}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("  waiting for another bootstrap that is producing %s", entry)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def publish(entry: Path, produce: Callable[[Path], None]) -> Path:
    """Fill a cache entry atomically: `produce` writes into a scratch dir that is renamed into place.

    An interrupted build leaves only scratch behind, never an entry that looks complete.
    """
    if is_complete(entry):
        return entry
    with locked(entry):
        if not is_complete(entry):
            _produce(entry, produce)
    return entry


def _produce(entry: Path, produce: Callable[[Path], None]) -> None:
    # Holding the lock means no one else is producing this entry: scratch left by a killed run is garbage.
    for stale in entry.parent.glob(f".{entry.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = entry.with_name(f".{entry.name}.tmp-{os.getpid()}")
    scratch.mkdir(parents=True)
    try:
        produce(scratch)
        (scratch / ".complete").write_text("ok\n", encoding="utf-8")
        if entry.exists():
            shutil.rmtree(entry)
        scratch.rename(entry)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def make_executable(path: Path) -> None:
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def link(target: Path, link_path: Path) -> bool:
    """Point `link_path` at `target` (replacing what was there); False when it already did."""
    if link_path.is_symlink() and Path(os.readlink(link_path)) == target:
        return False
    tmp = link_path.with_name(f".{link_path.name}.link-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link_path)
    return True
