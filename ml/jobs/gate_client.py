"""The scheduler's side of the docker job gate (`ml.jobs.gate`): ask it to start a retrain, see it run, read its end.

The same three steps as a retraining Job on a cluster (`ml.jobs.scheduled.KubeJobs`), over the stack network with
the stack's token instead of the Kubernetes API with a ServiceAccount's.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ml.jobs.request import JobRequest
from ml.jobs.spec import TIMED_OUT

WAIT_S = 3600.0
"""How long the scheduler waits for a retraining container (a docker job has no deadline of its own)."""
POLL_S = 5.0
TIMEOUT_S = 30.0


class GateError(RuntimeError):
    """The gate refused or did not answer; the message is the gate's."""


@dataclass
class GateJobs:
    url: str
    token: str
    poll_s: float = POLL_S
    wait_s: float = WAIT_S
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url.rstrip('/')}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                said = json.loads(exc.read()).get("error", "")
            except ValueError:
                said = ""
            raise GateError(f"the job gate {self.url} answered {exc.code}: {said or exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise GateError(f"the job gate {self.url} did not answer: {exc}") from exc

    def running(self, model: str) -> str | None:
        found = self._call("GET", "/jobs?" + urllib.parse.urlencode({"model": model}))
        names = sorted(found.get("running") or [])
        return names[0] if names else None

    def start(self, request: JobRequest, model: str) -> None:
        files = {path.name: path.read_text() for path in sorted(request.files.iterdir()) if path.is_file()}
        self._call("POST", "/jobs", {"model": model, "name": request.name, "files": files})

    def wait(self, name: str) -> str:
        """`Complete` or `Failed` as the gate says, or `TimedOut` past WAIT_S."""
        deadline = self.clock() + self.wait_s
        while True:
            state = self._call("GET", f"/jobs/{urllib.parse.quote(name)}").get("state")
            if state:
                return str(state)
            if self.clock() >= deadline:
                return TIMED_OUT
            self.sleep(self.poll_s)
