"""The servers of benchmarks/serve_bench.py: child processes on loopback ports, their CPU time, and MLServer 1.7
in a virtualenv of its own under the user's cache dir (made once, like the Evidently one of monitor_bench)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

log = logging.getLogger("serve_bench")
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MLSERVER_VERSION = "1.7.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proc:
    """A server child process in its own session, stopped with SIGTERM and reaped."""

    def __init__(self, cmd: list[str], env: dict[str, str], logfile: Path, health: str, timeout: float = 240) -> None:
        self.logfile = logfile
        with logfile.open("wb") as out:
            self.p = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{cmd[:3]} exited: {logfile.read_text()[-2000:]}")
            try:
                if requests.get(health, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{cmd[:3]} not healthy after {timeout} s: {logfile.read_text()[-2000:]}")

    def pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-s", str(self.p.pid)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(10)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (FileNotFoundError, IndexError):
            pass
    return total


def mlserver_python() -> Path:
    """A venv with MLServer and its sklearn runtime, with this venv's scikit-learn (the pickle needs it)."""
    import numpy
    import sklearn

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlops-platform" / "bench"
    venv = cache / f"mlserver-{MLSERVER_VERSION}-sklearn-{sklearn.__version__}"
    python = venv / "bin" / "python"
    if not python.exists():
        wanted = [
            f"mlserver=={MLSERVER_VERSION}",
            f"mlserver-sklearn=={MLSERVER_VERSION}",
            "httptools",
            f"scikit-learn=={sklearn.__version__}",
            f"numpy=={numpy.__version__}",
        ]
        log.info("creating %s with %s (once; a few minutes)", venv, " ".join(wanted))
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True)
    return python


def mlserver_command(model_pickle: Path, name: str, work: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """`mlserver start` on a folder with settings.json (one process: parallel_workers 0) and the model."""
    folder = work / f"mlserver-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": 0,
        "debug": False,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    model = {
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model_pickle)},
    }
    (folder / "model-settings.json").write_text(json.dumps(model))
    mlserver = mlserver_python().with_name("mlserver")
    # The pickle refers to ml.features' transformers by reference: the repository must be importable.
    return [str(mlserver), "start", str(folder)], {"PYTHONPATH": str(REPO)}
