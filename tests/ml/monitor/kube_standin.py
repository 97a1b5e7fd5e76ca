"""A stand-in for the few Kubernetes API calls a scheduled retrain makes, for tests that cannot start a cluster.

It answers over plain HTTP what the API server answers (create and read Jobs, list them by label, create
ConfigMaps), and plays the kubelet for a created Job: once its files' ConfigMap exists, it runs the Job's
container command, `python -m ml.train` with the Job's arguments, as a local process against the real tracking
server, with the ConfigMap's files where the Job mounts them, and sets the Job's `Complete` or `Failed`
condition from its exit code. The real cluster's version of all this is `tests/e2e/test_loop_on_cluster.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from ml.jobs.request import JOB_DIR
from tests.support.paths import REPO


@dataclass
class StandIn:
    root: Path
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    config_maps: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    """Kinds of what was created, in order ("Job", "ConfigMap")."""
    url: str = ""

    def _run_job(self, name: str) -> None:
        job = self.jobs[name]
        files = f"{name}-files"
        deadline = time.monotonic() + 30
        while files not in self.config_maps and time.monotonic() < deadline:
            time.sleep(0.1)
        mounted = self.root / name
        mounted.mkdir()
        for file, text in self.config_maps.get(files, {}).get("data", {}).items():
            (mounted / file).write_text(text)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        args = [f"{mounted}{a[len(JOB_DIR) :]}" if a.startswith(f"{JOB_DIR}/") else a for a in container["args"]]
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        env["PYTHONPATH"] = str(REPO)
        done = subprocess.run(
            [sys.executable, "-m", "ml.train", *args], cwd=mounted, env=env, capture_output=True, text=True, check=False
        )
        (self.root / f"{name}.log").write_text(done.stdout + done.stderr)
        state = "Complete" if done.returncode in (0, 3) else "Failed"
        job["status"] = {"conditions": [{"type": state, "status": "True"}]}

    def handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if parts[-1] == "jobs":
                    selector = parse_qs(url.query).get("labelSelector", [""])[0]
                    key, _, value = selector.partition("=")
                    items = [j for j in standin.jobs.values() if j["metadata"]["labels"].get(key) == value]
                    return self._answer(200, {"items": items})
                if parts[-2] == "jobs" and parts[-1] in standin.jobs:
                    return self._answer(200, standin.jobs[parts[-1]])
                return self._answer(404, {"message": f"{url.path} not found", "reason": "NotFound"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = body["metadata"]["name"]
                standin.created.append(body["kind"])
                body["metadata"]["uid"] = uuid.uuid4().hex
                if body["kind"] == "Job":
                    standin.jobs[name] = {**body, "status": {"active": 1}}
                    threading.Thread(target=standin._run_job, args=(name,), daemon=True).start()
                else:
                    standin.config_maps[name] = body
                self._answer(201, body)

        return Handler


@contextmanager
def kube_standin(root: Path) -> Iterator[StandIn]:
    standin = StandIn(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), standin.handler())
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
