"""Host processes of the cluster: each daemon started directly (no shell), its own pid recorded.

A recorded pid counts as ours only while /proc/PID/stat shows the start time we recorded, so a pid
reused by another program after a reboot or a crash is never signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlops.cluster.state import DaemonRecord

log = logging.getLogger(__name__)


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its closing one.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def alive(record: DaemonRecord) -> bool:
    return start_time(record.pid) == record.start_time and not is_zombie(record.pid)


def spawn(argv: Sequence[str | Path], log_file: Path, cwd: Path, env: dict[str, str] | None = None) -> DaemonRecord:
    """Start `argv` detached (own session, output to `log_file`) and return its record."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as sink:
        sink.write(f"\n==> {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(map(str, argv))}\n".encode())
        sink.flush()
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    started = start_time(proc.pid)
    if started is None:
        raise RuntimeError(f"{argv[0]} exited at once; see {log_file}")
    return DaemonRecord(pid=proc.pid, start_time=started, exe=str(argv[0]), log=str(log_file))


def stop(record: DaemonRecord, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True if it was running."""
    if not alive(record):
        return False
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not alive(record):
            return True
        time.sleep(0.05)
    log.warning("%s (pid %d) ignored SIGTERM for %.0fs: killing it", record.exe, record.pid, timeout)
    os.kill(record.pid, signal.SIGKILL)
    while alive(record):
        _reap(record.pid)
        time.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    """Collect our own child's exit status (when `up` and `down` run in one process, as in tests)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def processes_with(argument: str) -> Iterator[int]:
    """Pids whose command line contains `argument` (containerd's shims name our socket)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in cmdline:
            yield int(entry.name)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
