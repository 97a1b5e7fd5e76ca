"""The closed loop on the docker target, for real: a Docker engine, the trainer image built from this
checkout, an MLflow server container on the environment's network (the source environment), a second
MLflow server (the target) and a real `mlops serve` for the target's serving. Only reading the stacks and
the target's `pulumi up` are stood in for (`tests.mlops.loop.env_cli`).

Drifted traffic -> `mlops monitor --env SRC --retrain` -> a training job registers a challenger with the
trigger in its lineage -> a pending promotion request with the combined comment, whose JSON reached a
webhook receiver correctly signed, and a run of promote.yml asked of GitHub for it (GitHub's API stood in for
on loopback: `tests.mlops.loop.github_api`) -> `mlops promote --request ID` passes the target's gates, the
target serves the version and the request is promoted. Healthy traffic: no retrain, no request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import yaml

from contract import (
    TAG_TRIGGER_DRIFTED_FEATURES,
    TAG_TRIGGER_KIND,
    TAG_TRIGGER_MONITORING_RUN_ID,
    TAG_TRIGGER_WINDOW,
    Outputs,
)
from ml.promote import promotion_requests as requests
from tests.mlops.jobs.stack import JobStack
from tests.mlops.loop.env_cli import ENV_FILE
from tests.mlops.loop.github_api import github_api
from tests.mlops.loop.receiver import webhook_receiver
from tests.mlops.loop.serving import serving, stop_serving
from tests.support.drift_data import log_frame
from tests.support.paths import EXAMPLES, REPO

pytestmark = pytest.mark.integration

SECRET = "loop-test-webhook-secret"
GITHUB_TOKEN = "loop-test-github-token"
SINCE, UNTIL = "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"
TARGET_POLICY = {
    "mode": "enabled",
    "thresholds": [{"metric": "roc_auc", "threshold": 0.8, "higherIsBetter": True}],
    "probeRows": 10,
}


def _mlops(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tests.mlops.loop.env_cli", *args]
    return subprocess.run(command, env=env, cwd=REPO, text=True, capture_output=True, timeout=timeout, check=False)


def _said(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-5000:]}\n--- stderr\n{result.stderr[-5000:]}"


def _write_window(root: Path, model: str, shift: float) -> Path:
    """The breast-cancer rows as served traffic (one request per row), `mean texture` moved by `shift` std,
    and the ground truth for each request; returns the labels file."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    features = data.data.copy()
    features["mean texture"] += shift * features["mean texture"].std()
    frame = log_frame(features.assign(_prediction=data.target), model=model)
    folder = root / "log" / model / f"date={frame['_ts'].iloc[0][:10]}"
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "12-a.parquet", index=False)
    labels = root / "labels.csv"
    pd.DataFrame({"request_id": frame["_request_id"], "label": data.target}).to_csv(labels, index=False)
    return labels


@pytest.fixture(scope="module")
def loop(loop_stack: JobStack, mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A champion trained and registered in the source environment, its training config, and both described
    environments (the source's monitoring section closes the loop into the target)."""
    from mlflow import MlflowClient

    from ml.train import run_training
    from ml.training_config import load_config_and_spec
    from tests.support.names import unique_model_name

    root = tmp_path_factory.mktemp("loop")
    model = unique_model_name("loop-docker")
    raw = yaml.safe_load((EXAMPLES / "breast_cancer" / "train.yaml").read_text())
    raw.update(model_name=model, dataset=str(EXAMPLES / "breast_cancer" / "dataset.yaml"))
    train_config = root / "train.yaml"
    train_config.write_text(yaml.safe_dump(raw, sort_keys=False))
    champion = run_training(*load_config_and_spec(train_config), loop_stack.tracking_uri)
    MlflowClient(loop_stack.tracking_uri, loop_stack.tracking_uri).set_registered_model_alias(
        model, "champion", champion.version
    )
    return SimpleNamespace(
        root=root,
        model=model,
        champion=champion.version,
        train_config=train_config,
        source=loop_stack.name,
        target=f"{loop_stack.name}-target",
        target_uri=mlflow_server,
        stack=loop_stack,
    )


def _environments(loop: Any, workdir: Path, labels: Path, webhook_url: str, github_url: str) -> dict[str, str]:
    source = {
        "outputs": {
            Outputs.TARGET: "docker",
            Outputs.TRACKING_URI: loop.stack.tracking_uri,
            Outputs.TRAINING: loop.stack.training_output(),
            Outputs.SERVING_MODEL_URI: f"models:/{loop.model}@champion",
            Outputs.PREDICTION_LOG_URI: str(workdir / "log"),
        },
        "config": {
            "training": {"where": "cluster"},
            "monitoring": {
                "minRows": 100,
                "labels": str(labels),
                "promoteTo": loop.target,
                "retrain": {"onDrift": True, "includeReference": False, "trainConfig": str(loop.train_config)},
                "promotionRequest": {
                    "webhookUrl": webhook_url,
                    "github": {"repository": "acme/ml-platform", "apiUrl": github_url},
                    "timeoutS": 5,
                    "attempts": 2,
                },
                "webhookSecret": {"secure": "v1:encrypted-in-the-stack-file"},
                "githubToken": {"secure": "v1:encrypted-in-the-stack-file"},
            },
        },
        "webhook_secret": SECRET,
        "github_token": GITHUB_TOKEN,
    }
    target = {
        "outputs": {Outputs.TARGET: "docker", Outputs.TRACKING_URI: loop.target_uri},
        "config": {"promotion": TARGET_POLICY},
        "serving_workdir": str(workdir / "serving"),
    }
    (workdir / "serving").mkdir(exist_ok=True)
    described = workdir / "environments.json"
    described.write_text(json.dumps({loop.source: source, loop.target: target}))
    inherited = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    return {**inherited, ENV_FILE: str(described), "COLUMNS": "200"}


def _monitoring_runs(loop: Any) -> list[str]:
    """The ids of the model's runs in the source's `monitoring` experiment, newest first."""
    from mlflow import MlflowClient

    client = MlflowClient(loop.stack.tracking_uri)
    experiment = client.get_experiment_by_name("monitoring")
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.`model.name` = '{loop.model}'", order_by=["attributes.start_time DESC"]
    )
    return [r.info.run_id for r in runs]


def _versions(tracking_uri: str, model: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri, tracking_uri)
    # Read one by one: a search leaves the aliases out.
    found = [v.version for v in client.search_model_versions(f"name = '{model}'")]
    return {version: client.get_model_version(model, version) for version in found}


def test_drift_retrains_as_a_job_and_opens_a_request_that_promotes_through_the_gates(loop: Any, tmp_path: Path) -> None:
    labels = _write_window(tmp_path, loop.model, shift=2.0)
    with webhook_receiver(SECRET) as receiver, github_api(GITHUB_TOKEN) as github:
        env = _environments(loop, tmp_path, labels, receiver.url, github.url)
        started = time.monotonic()
        monitored = _mlops(
            [
                "monitor",
                "--env",
                loop.source,
                "--since",
                SINCE,
                "--until",
                UNTIL,
                "--out",
                str(tmp_path / "out"),
                "--retrain",
            ],
            env,
        )
        turn_seconds = time.monotonic() - started
    assert monitored.returncode == 3, _said(monitored)  # drift, and the loop's turn went through
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert "mean texture" in result["drifted_features"]
    monitoring_run = _monitoring_runs(loop)[0]
    assert "retraining as a job on the training cluster" in monitored.stdout
    assert "data ok: 569 rows" in monitored.stderr  # the job's log, streamed from its container

    # The challenger: registered by the job, with the trigger in its lineage.
    versions = _versions(loop.stack.tracking_uri, loop.model)
    assert sorted(versions) == [loop.champion, str(int(loop.champion) + 1)], _said(monitored)
    challenger = versions[str(int(loop.champion) + 1)]
    assert "challenger" in challenger.aliases and "champion" not in challenger.aliases
    tags = challenger.tags
    assert tags["job.name"].startswith(f"{loop.source}-train-")
    assert tags[TAG_TRIGGER_KIND] == "drift"
    assert tags[TAG_TRIGGER_MONITORING_RUN_ID] == monitoring_run
    assert "mean texture" in tags[TAG_TRIGGER_DRIFTED_FEATURES].split(",")
    assert tags[TAG_TRIGGER_WINDOW] == f"{result['window']['start']}/{result['window']['end']}"
    assert tags["data.rows"] == "569"

    # The request: pending on the source's tracking server, with the combined comment as markdown and JSON.
    [request] = requests.list_requests(loop.stack.tracking_uri, model=loop.model)
    assert (request.status, request.version, request.source_env, request.target_env) == (
        "pending",
        challenger.version,
        loop.source,
        loop.target,
    )
    assert request.trigger[TAG_TRIGGER_MONITORING_RUN_ID] == monitoring_run
    assert request.delivery == "delivered", request.delivery_detail
    markdown, document = requests.content(loop.stack.tracking_uri, request.request_id)
    print(f"--- the request's markdown\n{markdown}--- the monitor's output\n{monitored.stdout}")
    assert f"## Promotion request: `{loop.model}` v{challenger.version}" in markdown
    assert f"`models:/{loop.model}/{loop.champion}` → `models:/{loop.model}/{challenger.version}`" in markdown
    assert "| `test_roc_auc` |" in markdown and "| Gate |" in markdown
    assert f"mlops promote --request {request.request_id} --env {loop.source}" in markdown
    assert document["markdown"] == markdown and document["request_id"] == request.request_id
    assert document["trigger"][TAG_TRIGGER_KIND] == "drift"

    # The webhook: one delivery, signed with the stack's secret, of exactly the recorded JSON.
    [received] = receiver.received
    assert received.verified
    assert received.json() == document

    # GitHub (its API stood in for on loopback): one run of promote.yml asked for, with the request as its inputs.
    inputs = {"model": loop.model, "from": loop.source, "to": loop.target, "request": request.request_id}
    assert github.dispatched() == [("acme/ml-platform", "promote.yml", {"ref": "main", "inputs": inputs})]
    assert request.dispatch == "dispatched", request.dispatch_detail
    assert "promote.yml dispatched on acme/ml-platform@main" in " ".join(monitored.stdout.split())

    # Shown where a person looks.
    listed = _mlops(["promotions", loop.source], env, timeout=300)
    assert listed.returncode == 0, _said(listed)
    assert request.request_id in listed.stdout and "pending requests" in listed.stdout
    status = _mlops(["loop", "status", "--env", loop.source, "--json"], env, timeout=300)
    assert status.returncode == 0, _said(status)
    state = json.loads(status.stdout)
    assert state["last_monitoring"]["run_id"] == monitoring_run
    assert "mean texture" in state["last_monitoring"]["drifted_features"]
    assert state["open_retrains"] == [] and state["open_retrains_unknown"] == ""
    assert [r["request_id"] for r in state["pending_requests"]] == [request.request_id]
    shown = _mlops(["loop", "status", "--env", loop.source], env, timeout=300)
    assert shown.returncode == 0, _said(shown)
    assert f"drifted: mean texture (run {monitoring_run})" in " ".join(shown.stdout.split())
    assert "open retrains: none" in shown.stdout and request.request_id in shown.stdout

    # The promotion: only when asked, through the target's gates; then the request is settled.
    try:
        promoted = _mlops(["promote", "--request", request.request_id, "--env", loop.source], env)
        assert promoted.returncode == 0, _said(promoted)
        assert "threshold" in promoted.stdout  # the gates table of the normal promotion
        target_versions = _versions(loop.target_uri, loop.model)
        [copied] = [v for v in target_versions.values() if "champion" in v.aliases]
        assert copied.tags["lineage.source_version"] == challenger.version
        served = serving(tmp_path / "serving")
        assert served is not None
        with urllib.request.urlopen(f"{served['endpoint']}/metadata", timeout=10) as response:
            assert json.loads(response.read())["version"] == copied.version
    finally:
        stop_serving(tmp_path / "serving")
    settled = requests.get_request(loop.stack.tracking_uri, request.request_id)
    assert (settled.status, settled.promoted_version) == ("promoted", copied.version)
    again = _mlops(["promote", "--request", request.request_id, "--env", loop.source], env, timeout=300)
    assert again.returncode == 1 and "is promoted already" in again.stderr, _said(again)
    print(f"one turn of the loop (monitor, job, request, webhook) took {turn_seconds:.1f} s")


def test_healthy_traffic_retrains_nothing_and_requests_nothing(loop: Any, tmp_path: Path) -> None:
    labels = _write_window(tmp_path, loop.model, shift=0.0)
    before = _versions(loop.stack.tracking_uri, loop.model)
    pending_before = requests.list_requests(loop.stack.tracking_uri, model=loop.model, status="pending")
    with webhook_receiver(SECRET) as receiver, github_api(GITHUB_TOKEN) as github:
        env = _environments(loop, tmp_path, labels, receiver.url, github.url)
        monitored = _mlops(
            [
                "monitor",
                "--env",
                loop.source,
                "--since",
                SINCE,
                "--until",
                UNTIL,
                "--out",
                str(tmp_path / "out"),
                "--retrain",
            ],
            env,
        )
    assert monitored.returncode == 0, _said(monitored)
    assert "no retrain: healthy: nothing to retrain" in monitored.stdout
    assert _versions(loop.stack.tracking_uri, loop.model).keys() == before.keys()
    assert requests.list_requests(loop.stack.tracking_uri, model=loop.model, status="pending") == pending_before
    assert receiver.received == [] and github.calls == []
