"""The target environment's serving in the loop test: one real `mlops serve` process per rollout, standing in
for `pulumi up` of a serving stack only (the promotion's gates, copy, smoke test and alias are the real ones).

The process outlives the `mlops promote` that started it, so the test can ask it what it serves; its pid and
endpoint are written to `serving.json` in the work directory, and the test stops it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.ports import free_port

READY_TIMEOUT_S = 240.0
STATE_FILE = "serving.json"


class ServeDeployer:
    def __init__(self, tracking_uri: str, workdir: Path) -> None:
        self.tracking_uri, self.workdir = tracking_uri, workdir
        self.uri = ""

    def model_uri(self) -> str:
        return self.uri

    def set_model_uri(self, uri: str) -> None:
        self.uri = uri

    def roll_out(self) -> str:
        port = free_port()
        log = (self.workdir / f"serve-{port}.log").open("wb")
        command = [str(Path(sys.executable).parent / "mlops"), "serve", "--model-uri", self.uri]
        command += ["--tracking-uri", self.tracking_uri, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--model-cache", str(self.workdir / "cache")]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        endpoint = f"http://127.0.0.1:{port}"
        stop_serving(self.workdir)
        (self.workdir / STATE_FILE).write_text(json.dumps({"pid": process.pid, "endpoint": endpoint}))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{endpoint}/ready", timeout=2) as response:
                    if response.status == 200:
                        return endpoint
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        tail = (self.workdir / f"serve-{port}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"mlops serve for {self.uri} not ready:\n{tail}")


def serving(workdir: Path) -> dict[str, Any] | None:
    path = workdir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def stop_serving(workdir: Path) -> None:
    """Stop the server a rollout started in `workdir` (its own process group), if any."""
    state = serving(workdir)
    if state is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(state["pid"], signal.SIGTERM)
    (workdir / STATE_FILE).unlink()
