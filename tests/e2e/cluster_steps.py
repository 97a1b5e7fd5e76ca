"""What the end-to-end tests on a local cluster share: each step's duration, the commands' output kept on
disk and checked, the stack's outputs, and a training config of the test's own model."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from tests.support.mlops_cli import mlops
from tests.support.paths import EXAMPLES

EXAMPLE = EXAMPLES / "breast_cancer"


class Steps:
    """The duration of each step, printed at the end (and on failure) for the closing figures."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = time.monotonic() - started
            print(f"step {name}: {self.seconds[name]:.1f} s", flush=True)

    def table(self) -> str:
        return "\n".join(f"  {seconds:7.1f} s  {name}" for name, seconds in self.seconds.items())


def ok(result, what: str, logs: Path) -> None:  # type: ignore[no-untyped-def]
    """Exit 0, or the command's output in the failure; its whole output is kept under `logs` either way."""
    logs.mkdir(exist_ok=True)
    (logs / f"{re.sub(r'[^a-z0-9]+', '-', what.lower()).strip('-')}.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (
        f"{what} failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    )


def stack_outputs(stack: str, env: dict[str, str], logs: Path) -> dict:  # type: ignore[type-arg]
    result = mlops(["env", "outputs", stack, "--json"], env)
    ok(result, f"outputs of {stack}", logs)
    return dict(json.loads(result.stdout))


def train_config(root: Path, model: str, source: Path = EXAMPLE / "train.yaml") -> Path:
    """`source` (the example's training config by default) for the test's own model, under `root`."""
    raw = yaml.safe_load(source.read_text())
    raw.update(model_name=model, dataset=str(EXAMPLE / "dataset.yaml"))
    path = root / source.name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def set_monitoring(project: Path, stack: str, **monitoring: object) -> None:
    """The stack file's `mlops:monitoring` in the test's project, with `monitoring` merged in."""
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"].setdefault("mlops:monitoring", {}).update(monitoring)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def assert_drift_trigger(tags: dict[str, str], monitoring_run_id: str, feature: str = "mean texture") -> None:
    """A retrained version's lineage names what triggered it: drift of `feature`, in a window, found by that run."""
    from datetime import datetime

    from contract import (
        TAG_TRIGGER_DRIFTED_FEATURES,
        TAG_TRIGGER_KIND,
        TAG_TRIGGER_MONITORING_RUN_ID,
        TAG_TRIGGER_WINDOW,
    )

    assert tags[TAG_TRIGGER_KIND] == "drift"
    assert tags[TAG_TRIGGER_MONITORING_RUN_ID] == monitoring_run_id
    assert feature in tags[TAG_TRIGGER_DRIFTED_FEATURES].split(",")
    start, end = tags[TAG_TRIGGER_WINDOW].split("/")
    assert datetime.fromisoformat(start) < datetime.fromisoformat(end)
