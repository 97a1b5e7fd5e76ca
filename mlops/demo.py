"""The main job, end to end on one environment: stand it up, validate, train, alias, roll out, predict.

Each stage runs the same `mlops` command a user would type, so the demo is also the tour.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contract import CHALLENGER, CHAMPION, TAG_GATES_PASSED

EXAMPLE = Path("examples/breast_cancer")


class DemoFailed(RuntimeError):
    """A stage failed; the message names it and what to look at."""


@dataclass
class Stage:
    title: str
    seconds: float = 0.0


@dataclass
class DemoResult:
    env: str
    model: str
    version: str
    endpoint: str
    tracking_uri: str
    predictions: list[Any]
    expected: list[Any]
    stages: list[Stage] = field(default_factory=list)


Say = Callable[[str], None]


def _mlops(args: Sequence[str], say: Say) -> None:
    command = [str(Path(sys.executable).parent / "mlops"), *args]
    say(f"$ mlops {shlex.join(args)}")
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise DemoFailed(f"`mlops {shlex.join(args)}` exited with {completed.returncode}; its output is above")


def champion_after_gates(tracking_uri: str, model: str, say: Say) -> str:
    """Alias the newest `challenger` as `champion`, but only when its gates passed."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    challenger = client.get_model_version_by_alias(model, CHALLENGER)
    if challenger.tags.get(TAG_GATES_PASSED) != "true":
        raise DemoFailed(
            f"{model} v{challenger.version} did not pass its gates ({challenger.tags.get('gates')}); "
            "it stays challenger"
        )
    client.set_registered_model_alias(model, CHAMPION, challenger.version)
    say(f"{model} v{challenger.version} passed its gates: alias champion -> v{challenger.version}")
    return str(challenger.version)


def probe_rows(spec_path: Path, rows: int) -> Any:
    """A few rows of the example data, without the target, to send to the endpoint."""
    from ml.data import load_dataset
    from ml.spec import load_dataset_spec

    spec = load_dataset_spec(spec_path)
    frame = load_dataset(spec).frame
    return frame.drop(columns=[spec.target]).sample(n=rows, random_state=7)


def run(env: str, example: Path, say: Say, rows: int = 5) -> DemoResult:
    from ml.promote.versions import get_version
    from ml.smoke import smoke_test
    from mlops.stacks import resolve

    config_path = example / "train.yaml"
    spec_path = example / "dataset.yaml"
    model = str(yaml.safe_load(config_path.read_text())["model_name"])
    stages: list[Stage] = []

    def stage(title: str) -> Stage:
        stages.append(Stage(title))
        say(f"\n==> [{len(stages)}/6] {title}")
        return stages[-1]

    started = time.monotonic()
    current = stage(f"mlops env up {env}: registry, tracking server and images")
    _mlops(["env", "up", env, "--yes"], say)
    current.seconds = time.monotonic() - started

    mark = time.monotonic()
    current = stage("validate the dataset")
    _mlops(["data", "validate", str(spec_path)], say)
    current.seconds = time.monotonic() - mark

    mark = time.monotonic()
    current = stage(f"train and register in {env}'s tracking server")
    _mlops(["train", "--env", env, "--config", str(config_path)], say)
    tracking_uri = resolve(env).tracking_uri
    current.seconds = time.monotonic() - mark

    mark = time.monotonic()
    current = stage("alias champion once the gates pass")
    version = champion_after_gates(tracking_uri, model, say)
    current.seconds = time.monotonic() - mark

    mark = time.monotonic()
    current = stage(f"mlops env up {env} again: serving rolls out v{version}")
    _mlops(["env", "up", env, "--yes"], say)
    endpoint = resolve(env).serving_endpoint
    current.seconds = time.monotonic() - mark

    mark = time.monotonic()
    current = stage(f"real predictions from {endpoint}")
    features = probe_rows(spec_path, rows)
    registered = get_version(tracking_uri, model, version=version).load()
    result = smoke_test(endpoint, version, registered, features)
    expected = registered.predict(features).tolist()
    for i, (served, local) in enumerate(zip(result.predictions, expected, strict=True)):
        say(f"  row {i}: served {served}  registered model {local}")
    current.seconds = time.monotonic() - mark
    return DemoResult(env, model, version, endpoint, tracking_uri, result.predictions, expected, stages)


def summary(result: DemoResult) -> str:
    lines = ["", "stage timings:"]
    lines += [f"  {s.seconds:7.1f}s  {s.title}" for s in result.stages]
    lines += [
        f"  {sum(s.seconds for s in result.stages):7.1f}s  total",
        "",
        f"Tracking UI:      {result.tracking_uri}",
        f"Serving endpoint: {result.endpoint}  (POST /predict, GET /metadata, /metrics)",
        f"Model:            models:/{result.model}@champion = v{result.version}",
        f"Monitor it:       mlops monitor --env {result.env} --model {result.model}",
        f"Tear down:        mlops env down {result.env} --yes   (add --purge to delete the volumes too)",
    ]
    return "\n".join(lines)
