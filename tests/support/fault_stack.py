"""What the fault suites share: a client that counts failed predictions, a snapshot of the code a suite
deploys, and the model every fault stack trains and serves."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.paths import EXAMPLES, REPO


@dataclass
class Client:
    """Sends one prediction every 0.2 s to the endpoint and counts the failures, with their times."""

    endpoint: str
    rows: list[dict[str, Any]]
    sent: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _one(self) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/predict",
            data=json.dumps({"records": self.rows}).encode(),
            headers={"Content-Type": "application/json"},
        )
        self.sent += 1
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                if response.status != 200:
                    self.failures.append((time.monotonic(), f"HTTP {response.status}"))
        except urllib.error.HTTPError as err:
            body = err.read(200).decode(errors="replace").replace("\n", " ")
            self.failures.append((time.monotonic(), f"{err} {body}"))
        except (urllib.error.URLError, OSError) as err:
            self.failures.append((time.monotonic(), str(err)))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._one()
            self._stop.wait(0.2)

    def start(self) -> Client:
        self.sent, self.failures = 0, []
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Client:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        return self

    def answers(self, within_s: float = 120) -> bool:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            before = len(self.failures)
            self._one()
            if len(self.failures) == before:
                return True
            time.sleep(1)
        return False


def snapshot(work: Path) -> Path:
    """The code this suite deploys, copied into its project dir and put first on PYTHONPATH: image tags hash
    the files they contain, so an edit in the checkout while the suite runs (a shared working tree) would
    otherwise roll out new images mid-case and be counted as the fault's failures."""
    (work / "infra").unlink()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("contract", "ml", "infra", "mlops"):
        shutil.copytree(REPO / package, work / package, ignore=ignore)
    for name in ("pyproject.toml", "constraints.txt"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, work / name)
    return work


def registered_version(tracking: str, model: str) -> str:
    url = f"{tracking}/api/2.0/mlflow/registered-models/alias?name={model}&alias=champion"
    with urllib.request.urlopen(url, timeout=30) as response:
        return str(json.loads(response.read())["model_version"]["version"])


def wait_healthy(url: str, within_s: float = 600) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(2)
    raise AssertionError(f"{url} did not answer within {within_s} s")


def train_and_alias(tracking: str, model: str) -> str:
    from mlflow import MlflowClient

    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(EXAMPLES / "breast_cancer" / "train.yaml")
    result = run_training(config.model_copy(update={"model_name": model}), spec, tracking)
    MlflowClient(tracking).set_registered_model_alias(model, "champion", result.version)
    return str(result.version)


def example_rows() -> list[dict[str, Any]]:
    from ml.data import load_dataset
    from ml.spec import load_dataset_spec

    spec = load_dataset_spec(EXAMPLES / "breast_cancer" / "dataset.yaml")
    frame = load_dataset(spec).frame.drop(columns=[spec.target]).head(3)
    return json.loads(frame.to_json(orient="records"))


def fault_stack_config(stack: str, model: str, registry: int, tracking: int, serving: int) -> dict[str, Any]:
    """The `local` stack as a fault suite runs it: ports and an artifact volume of its own, two serving replicas
    of `models:/<model>@champion`."""
    from tests.support.pulumi_mocks import stack_config

    config = stack_config("local")
    config["registry"] = {**config["registry"], "port": registry}
    config["tracking"] = {**config["tracking"], "port": tracking}
    config["artifacts"] = {"volume": f"mlops-{stack}-artifacts"}
    config["serving"] = {
        **config["serving"],
        "port": serving,
        "replicas": 2,
        "memoryMb": 768,
        "modelUri": f"models:/{model}@champion",
    }
    return config
