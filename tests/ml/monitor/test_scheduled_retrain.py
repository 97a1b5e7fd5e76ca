"""A scheduled pass that retrains: `python -m ml.monitor`'s pass (`ml.monitor.schedule.run_once`) against a real
MLflow server finds drift, uploads the window to the artifact store, starts `mlops train`'s Job through the
Kubernetes API, and opens the pending promotion request once the Job registered a challenger with the trigger
tags, and announces it on the stack's webhook, signed; a retrain still running for the model starts no second one.

The Kubernetes API is a stand-in (`kube_standin`: no cluster can run inside this suite); it runs the Job's own
`python -m ml.train` command with the Job's files as a local process, so the job context, the upload and the
registration are real. The cluster's run of the same is `tests/e2e/test_loop_on_cluster.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from contract import (
    TAG_TRIGGER_DRIFTED_FEATURES,
    TAG_TRIGGER_KIND,
    TAG_TRIGGER_MONITORING_RUN_ID,
    TAG_TRIGGER_WINDOW,
    ModelRef,
    monitor_env,
)
from ml.jobs import scheduled
from ml.jobs.kube_api import KubeApi
from ml.monitor.thresholds import ExitCode, Thresholds
from tests.ml.monitor.kube_standin import kube_standin
from tests.mlops.loop.receiver import webhook_receiver
from tests.support.drift_data import log_frame
from tests.support.paths import EXAMPLES

pytestmark = pytest.mark.integration

TRAINING = {
    "target": "kubernetes",
    "image": "127.0.0.1:30500/mlops-dev/trainer:0123456789abcdef0123",
    "namespace": "mlops-dev-training",
    "service_account": "trainer",
    "limits": {"cpus": 1.0, "memory_mb": 2048},
    "resources": {"requests": {"cpu": "50m", "memory": "102Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
    "pod_security_context": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
    "security_context": {"runAsNonRoot": True, "readOnlyRootFilesystem": True},
    "labels": {"app.kubernetes.io/part-of": "mlops-platform"},
    "backoff_limit": 0,
    "active_deadline_seconds": 600,
    "ttl_seconds_after_finished": 3600,
}


def _setup(root: Path, model: str, tracking_uri: str) -> tuple[Path, Path]:
    """The retrain setup the stack renders (its `retrain.json`, training config and spec) and the config."""
    raw = yaml.safe_load((EXAMPLES / "breast_cancer" / "train.yaml").read_text())
    raw.update(model_name=model, dataset="dataset.yaml")
    setup = root / "retrain"
    setup.mkdir()
    (setup / scheduled.TRAIN_CONFIG).write_text(yaml.safe_dump(raw, sort_keys=False))
    (setup / scheduled.DATASET_SPEC).write_text((EXAMPLES / "breast_cancer" / "dataset.yaml").read_text())
    training = {**TRAINING, "tracking_uri": tracking_uri}
    (setup / scheduled.SETUP_FILE).write_text(json.dumps({"environment": "dev", "training": training}))
    return setup, setup / scheduled.TRAIN_CONFIG


def _window(root: Path, model: str) -> tuple[str, Path]:
    """The breast-cancer rows as the last hour's traffic, `mean texture` moved by two standard deviations."""
    from datetime import UTC, datetime, timedelta

    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    features = data.data.copy()
    features["mean texture"] += 2.0 * features["mean texture"].std()
    start = datetime.now(UTC) - timedelta(hours=1)
    frame = log_frame(features.assign(_prediction=data.target), model=model, start=start)
    for day, part in frame.groupby(frame["_ts"].str.slice(0, 10)):
        folder = root / "log" / model / f"date={day}"
        folder.mkdir(parents=True)
        part.to_parquet(folder / "12-a.parquet", index=False)
    labels = root / "labels.csv"
    pd.DataFrame({"request_id": frame["_request_id"], "label": data.target}).to_csv(labels, index=False)
    return (root / "log").as_uri(), labels


@pytest.fixture
def champion(mlflow_server: str, model_name: str, tmp_path: Path) -> Path:
    """Version 1 of the model, trained in this process and aliased champion; returns the retrain setup."""
    from mlflow import MlflowClient

    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    setup, config = _setup(tmp_path, model_name, mlflow_server)
    trained = run_training(*load_config_and_spec(config), mlflow_server)
    MlflowClient(mlflow_server, mlflow_server).set_registered_model_alias(model_name, "champion", trained.version)
    return setup


def _job(
    tracking_uri: str,
    model: str,
    log_uri: str,
    labels: Path,
    setup: Path,
    out: Path,
    webhook: tuple[str, Path] | None = None,
) -> Any:
    """The pass's settings as the stack renders them; `webhook`: (its URL, the mounted secret's file)."""
    from ml.monitor.schedule import MonitorJob

    section: dict[str, Any] = {
        "minRows": 100,
        "labels": str(labels),
        "promoteTo": "staging",
        "retrain": {"onDrift": True, "includeReference": True, "trainConfig": "examples/x/train.yaml"},
    }
    if webhook is None:
        served = ModelRef.parse(f"models:/{model}/1")
        return MonitorJob(tracking_uri, served, log_uri, Thresholds.from_config(section), out=out, retrain_dir=setup)
    section["promotionRequest"] = {"webhookUrl": webhook[0], "timeoutS": 5, "attempts": 2}
    # Through the pod's environment, as the CronJob sets it: the secret only as the mounted file's path.
    environ = {
        monitor_env.TRACKING_URI_ENV: tracking_uri,
        monitor_env.MODEL_URI_ENV: f"models:/{model}/1",
        monitor_env.PREDICTION_LOG_ENV: log_uri,
        monitor_env.THRESHOLDS_ENV: json.dumps(section),
        monitor_env.OUT_DIR_ENV: str(out),
        monitor_env.RETRAIN_DIR_ENV: str(setup),
        monitor_env.WEBHOOK_SECRET_FILE_ENV: str(webhook[1]),
    }
    return MonitorJob.from_environ(environ)


def test_a_drifted_pass_starts_the_job_and_opens_the_request(
    mlflow_server: str, model_name: str, champion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from ml.monitor.schedule import run_once
    from ml.promote.promotion_requests import PENDING, content, list_requests

    log_uri, labels = _window(tmp_path, model_name)
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text("hmac-key-of-the-stack\n")  # as the Secret's file, with the newline an editor adds
    with kube_standin(tmp_path) as api, webhook_receiver("hmac-key-of-the-stack") as receiver:
        monkeypatch.setattr(KubeApi, "in_cluster", classmethod(lambda cls: KubeApi(api.url, None)))
        monkeypatch.setattr(scheduled, "POLL_S", 0.5)
        job = _job(mlflow_server, model_name, log_uri, labels, champion, tmp_path / "out", (receiver.url, secret_file))
        code, result = run_once(job)
    assert code == ExitCode.DRIFT
    assert api.created == ["Job", "ConfigMap"]
    ((name, job),) = api.jobs.items()
    said = (tmp_path / f"{name}.log").read_text()
    assert job["status"]["conditions"] == [{"type": "Complete", "status": "True"}], said

    # mlops train's Job: the trainer ServiceAccount without a token, its files owned by the Job.
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "trainer" and pod["automountServiceAccountToken"] is False
    assert job["metadata"]["namespace"] == "mlops-dev-training"
    assert job["metadata"]["labels"][scheduled.LABEL_RETRAIN_OF] == scheduled.model_label(model_name)
    (files,) = api.config_maps.values()
    assert files["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]

    client = MlflowClient(mlflow_server, mlflow_server)
    version = client.get_model_version(model_name, "2")
    monitoring_run = result["tracking_run_id"]
    assert version.tags[TAG_TRIGGER_KIND] == "drift"
    assert version.tags[TAG_TRIGGER_MONITORING_RUN_ID] == monitoring_run
    assert "mean texture" in version.tags[TAG_TRIGGER_DRIFTED_FEATURES].split(",")
    assert version.tags[TAG_TRIGGER_WINDOW] == f"{result['window']['start']}/{result['window']['end']}"
    assert version.tags["job.name"] == name and version.tags["gates.passed"] == "true"
    # The window and the reference data: 569 breast-cancer rows each.
    assert version.tags["data.rows"] == str(2 * 569) and version.tags["data.uri"].startswith("runs:/")
    assert client.get_model_version_by_alias(model_name, "challenger").version == "2"

    (request,) = [r for r in list_requests(mlflow_server, status=PENDING) if r.model == model_name]
    assert (request.version, request.source_env, request.target_env) == ("2", "dev", "staging")
    assert request.trigger[TAG_TRIGGER_MONITORING_RUN_ID] == monitoring_run
    markdown, document = content(mlflow_server, request.request_id)
    assert "opened by the scheduled monitor" in markdown and document["promote_command"].endswith("--env dev")
    # Announced on the stack's webhook: the recorded JSON, signed with the mounted secret, its delivery recorded.
    (delivered,) = receiver.received
    assert delivered.verified and delivered.json() == document
    assert request.delivery == "delivered" and request.delivery_detail.startswith(f"HTTP 200 from {receiver.url}")


def test_an_announcement_without_its_secret_is_recorded_failed_and_the_request_stays(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    from ml.monitor.loop_policy import PromotionRequestPolicy
    from ml.monitor.scheduled_retrain import _announce
    from ml.promote.promotion_requests import PENDING, get_request, open_request

    opened = open_request(
        mlflow_server,
        model=model_name,
        version="2",
        source_env="dev",
        target_env="staging",
        trigger={},
        render=lambda request_id: ("# request", {"request_id": request_id}),
    )
    with webhook_receiver("unused") as receiver:
        policy = PromotionRequestPolicy(webhook_url=receiver.url)
        said = _announce(mlflow_server, opened.request_id, policy, tmp_path / "not-mounted")
        assert receiver.received == []
    assert said.startswith("webhook not called: no webhook secret") and "mlops:monitoring.webhookSecret" in said
    request = get_request(mlflow_server, opened.request_id)
    assert (request.status, request.delivery, request.delivery_detail) == (PENDING, "failed", said)


def test_a_retrain_still_running_starts_no_second_one(
    mlflow_server: str, model_name: str, champion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.monitor.schedule import run_once

    log_uri, labels = _window(tmp_path, model_name)
    labels_of_running = {scheduled.LABEL_RETRAIN_OF: scheduled.model_label(model_name)}
    running = {"kind": "Job", "metadata": {"name": "train-earlier", "labels": labels_of_running}}
    running["status"] = {"active": 1}
    with kube_standin(tmp_path) as api:
        api.jobs["train-earlier"] = running
        monkeypatch.setattr(KubeApi, "in_cluster", classmethod(lambda cls: KubeApi(api.url, None)))
        code, _ = run_once(_job(mlflow_server, model_name, log_uri, labels, champion, tmp_path / "out"))
    assert code == ExitCode.DRIFT
    assert api.created == [] and list(api.jobs) == ["train-earlier"]
    from mlflow import MlflowClient

    versions = MlflowClient(mlflow_server, mlflow_server).search_model_versions(f"name = '{model_name}'")
    assert [v.version for v in versions] == ["1"]


def test_a_finished_retrain_does_not_hold_the_next_one() -> None:
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    suspended = {"status": {"conditions": [{"type": "Complete", "status": "False"}], "active": 1}}
    assert scheduled.job_state(done) == "Complete" and scheduled.job_state(failed) == "Failed"
    assert scheduled.job_state(suspended) is None and scheduled.job_state({}) is None
    assert scheduled.model_label("Breast_Cancer model!") == "breast_cancer-model"
    assert len(scheduled.model_label("m" * 80)) == 63
