"""The scheduled loop for real on docker: two environments of the test's own made from the `local` and
`local-prod` stack files, brought up by `pulumi up`, the source's monitor running every minute.

Version 1 is trained and served in the source, whose stack retrains on drift from the schedule (labels in a
directory of this host, `promoteTo` the target). Healthy traffic goes to the served model through its endpoint,
one request per batch with its own request id, and the ground truth of each row lands in the labels directory:
the scheduler's passes over it find nothing and start nothing. Then traffic with `mean texture` moved by three
standard deviations: the next pass finds drift, the stack's job gate starts a retraining container, which
registers version 2 with the trigger in its lineage, and the pass opens a pending promotion request.
`mlops promote --request` carries it out through the target's gates (and its approval), and the target serves
version 2. Each step's duration is printed.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from contract import (
    TAG_TRIGGER_MONITORING_RUN_ID,
)
from tests.e2e.cluster_stacks import tracking_login
from tests.e2e.cluster_steps import Steps, assert_drift_trigger, ok, set_monitoring, stack_outputs
from tests.support.mlops_cli import mlops, tear_down
from tests.support.paths import EXAMPLES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2700)]

MODEL = "breast-cancer"
BATCH = 50
HEALTHY_PASSES = 2
TURN_TIMEOUT_S = 600
FLUSH_S = 5


def _loop_stack(project: Path, source: str, target: str, labels: Path) -> None:
    """The source's stack file with the loop's keys: a pass every minute that retrains on drift into `target`."""
    set_monitoring(
        project,
        source,
        schedule="* * * * *",
        minRows=100,
        retrain={
            "onDrift": True,
            "onQualityDecay": False,
            "includeReference": True,
            "trainConfig": str(EXAMPLES / "breast_cancer" / "train.yaml"),
        },
        labels=str(labels),
        promoteTo=target,
    )


def _send(endpoint: str, features: pd.DataFrame, truth: pd.Series, labels: Path, name: str) -> int:
    """The rows as traffic, BATCH per request, each request with an id of its own; their labels written to
    `labels/<name>.csv` as (request_id, row, label). The number of requests."""
    rows: list[dict[str, Any]] = []
    requests = 0
    for start in range(0, len(features), BATCH):
        batch = features.iloc[start : start + BATCH]
        request_id = uuid.uuid4().hex
        body = json.dumps({"records": batch.to_dict(orient="records")}).encode()
        asked = urllib.request.Request(
            f"{endpoint}/predict",
            data=body,
            headers={"Content-Type": "application/json", "X-Request-ID": request_id},
        )
        with urllib.request.urlopen(asked, timeout=30) as response:
            assert response.status == 200
        rows += [
            {"request_id": request_id, "row": row, "label": int(label)}
            for row, label in enumerate(truth.iloc[start : start + BATCH])
        ]
        requests += 1
    pd.DataFrame(rows).to_csv(labels / f"{name}.csv", index=False)
    return requests


def _live(features: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The rows as live traffic: each value off by up to 1 %, so no request repeats a row of the reference data
    (the retrain adds it with `includeReference`, and training refuses duplicated rows)."""
    noise = np.random.default_rng(seed).uniform(0.99, 1.01, size=features.shape)
    return features * noise


def _monitoring_runs(tracking_uri: str, after_ms: int) -> list[Any]:
    """The monitoring runs that started after `after_ms` and judged a window, oldest first."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("monitoring")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [r for r in runs if r.info.start_time > after_ms and r.data.metrics.get("rows", 0) > 0]


def _until(what: str, found: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(5)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s")


def _scheduler_log(stack: str) -> str:
    import docker

    return str(docker.from_env().containers.get(f"mlops-{stack}-monitor").logs(tail=300).decode(errors="replace"))


def _containers_of(stack: str, role: str) -> list[Any]:
    import docker

    labels = [f"mlops.stack={stack}", f"mlops.role={role}"]
    return list(docker.from_env().containers.list(all=True, filters={"label": labels}))


def test_the_scheduled_monitor_retrains_on_drift_and_its_request_promotes(
    e2e_env: dict[str, str], new_stack: Callable[[str, str], str], steps: Steps, tmp_path: Path, monkeypatch: Any
) -> None:
    from mlflow import MlflowClient
    from sklearn.datasets import load_breast_cancer

    from ml.monitor.history import TAG_DRIFTED_FEATURES, TAG_STATUS
    from ml.promote.promotion_requests import PENDING, list_requests
    from mlops.demo import champion_after_gates

    source, target = new_stack("local", "loop"), new_stack("local-prod", "loopprod")
    labels = tmp_path / "labels"
    labels.mkdir()
    _loop_stack(Path(e2e_env["MLOPS_PROJECT_DIR"]), source, target, labels)
    logs = tmp_path / "logs"
    print(f"\nthe commands' output: {logs}")
    data = load_breast_cancer(as_frame=True)
    try:
        with steps("env up source and target"):
            for stack in (source, target):
                ok(mlops(["env", "up", stack, "--yes"], e2e_env), f"env up {stack}", logs)
        outputs = stack_outputs(source, e2e_env, logs)
        tracking_uri = outputs["tracking_uri"]
        with steps("train v1 and alias it champion"):
            trained = mlops(["train", "--env", source, "--config", "examples/breast_cancer/train.yaml"], e2e_env)
            ok(trained, "train", logs)
            assert champion_after_gates(tracking_uri, MODEL, print) == "1"
        with steps("env up source (serving v1, its scheduler and job gate)"):
            ok(mlops(["env", "up", source, "--yes"], e2e_env), "second env up", logs)
        outputs = stack_outputs(source, e2e_env, logs)
        endpoint = outputs["serving_endpoint"]
        (gate,) = _containers_of(source, "job-gate")
        assert not gate.attrs["HostConfig"]["PortBindings"], "the job gate publishes no port"
        assert gate.attrs["Config"]["User"].startswith("10001:")

        with steps(f"healthy traffic, then {HEALTHY_PASSES} scheduled passes"):
            _send(endpoint, _live(data.data, seed=1), data.target, labels, "healthy")
            time.sleep(FLUSH_S)  # the replicas write their log every 2 s: passes from now on see all of it
            healthy_from = int(time.time() * 1000)
            passes = _until(
                f"{HEALTHY_PASSES} scheduled passes over the healthy traffic",
                lambda: (runs := _monitoring_runs(tracking_uri, healthy_from))[HEALTHY_PASSES - 1 :] and runs,
                (HEALTHY_PASSES + 2) * 60,
            )
        for run in passes:
            assert run.data.tags[TAG_STATUS] == "healthy", run.data.tags
            assert run.data.metrics["rows"] == len(data.data)
            # Every row's label joined: the balancer passed each request's own X-Request-ID on to the replicas.
            assert run.data.metrics["labelled_rows"] == len(data.data)
        client = MlflowClient(tracking_uri, tracking_uri)
        assert [v.version for v in client.search_model_versions(f"name = '{MODEL}'")] == ["1"]
        assert list_requests(tracking_uri, status=PENDING) == []

        shifted = _live(data.data, seed=2)
        shifted["mean texture"] += 3.0 * shifted["mean texture"].std()
        drifted_from = int(time.time() * 1000)
        turn = "drifted traffic -> scheduled pass -> retraining container -> request"
        with steps(turn):
            _send(endpoint, shifted, data.target, labels, "shifted")
            (request,) = _until(
                "a pending promotion request", lambda: list_requests(tracking_uri, status=PENDING), TURN_TIMEOUT_S
            )
        said = _scheduler_log(source)
        (logs / "scheduler.log").write_text(said)
        drifted = [r for r in _monitoring_runs(tracking_uri, drifted_from) if r.data.tags[TAG_STATUS] == "drift"]
        assert drifted, said[-4000:]
        monitoring_run = drifted[0]
        assert "mean texture" in monitoring_run.data.tags[TAG_DRIFTED_FEATURES].split(",")

        version = client.get_model_version(MODEL, "2")
        tags = version.tags
        assert_drift_trigger(tags, monitoring_run.info.run_id)
        # The container the gate started: the stack's trainer image, named as this stack's jobs are; removed.
        assert (
            tags["job.name"].startswith(f"mlops-{source}-train-") and tags["job.image"] == outputs["images"]["trainer"]
        )
        assert f"started retrain job {tags['job.name']}" in said
        assert _containers_of(source, "training-job") == []
        assert client.get_model_version_by_alias(MODEL, "challenger").version == "2"
        assert (request.model, request.version, request.source_env, request.target_env) == (MODEL, "2", source, target)
        assert request.trigger[TAG_TRIGGER_MONITORING_RUN_ID] == monitoring_run.info.run_id

        with steps("mlops promote --request (the target's gates and approval)"):
            promoted = mlops(["promote", "--request", request.request_id, "--env", source, "--approve"], e2e_env)
            ok(promoted, "promote the request", logs)
        prod = stack_outputs(target, e2e_env, logs)
        with urllib.request.urlopen(f"{prod['serving_endpoint']}/metadata", timeout=10) as response:
            served = json.loads(response.read())
        username, password = tracking_login(target, e2e_env)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        champion = MlflowClient(prod["tracking_uri"], prod["tracking_uri"]).get_model_version_by_alias(
            MODEL, "champion"
        )
        assert served["version"] == champion.version
        assert champion.tags["lineage.source_version"] == "2" and champion.tags["lineage.source_env"] == source
        (settled,) = list_requests(tracking_uri)
        assert settled.status == "promoted"
    finally:
        with steps("env down --purge (both)"):
            downs = [tear_down(stack, e2e_env) for stack in (target, source)]
    assert all(d.returncode == 0 for d in downs), "\n".join(d.stdout[-2000:] for d in downs)
