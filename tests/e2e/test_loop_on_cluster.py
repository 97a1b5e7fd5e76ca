"""The scheduled loop for real on a local cluster of the test's own: the monitor's CronJob finds drift in the
prediction log, starts a training Job with its own ServiceAccount, and the challenger ends in a pending
promotion request.

A copy of `stacks/Pulumi.dev.yaml` (`cluster_stacks.copy_stack`) that retrains on drift from the schedule
(`retrain.trainConfig`, labels in the stack's S3, `promoteTo`) goes through `mlops env up`; version 1 is trained
as a Job and aliased champion, and a second `up` serves it, which creates the CronJob. The prediction log and
the labels are written to the stack's S3 (the breast-cancer rows with `mean texture` moved by two standard
deviations), one pass is started at once from the CronJob as `kubectl create job --from=cronjob/...` does, and
the test checks: the monitoring run, the retraining Job (the trainer ServiceAccount, the stack's image), version
2 with the trigger tags, and the pending request. Each step's duration is printed.
"""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from contract import (
    TAG_TRIGGER_MONITORING_RUN_ID,
)
from ml.jobs.scheduled import LABEL_RETRAIN_OF, model_label
from tests.e2e.cluster_stacks import copy_stack, tracking_login
from tests.e2e.cluster_steps import Steps, assert_drift_trigger, ok, set_monitoring, stack_outputs, train_config
from tests.support.drift_data import log_frame
from tests.support.local_cluster import PodWatch
from tests.support.mlops_cli import mlops, tear_down
from tests.support.s3 import s3_client

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.timeout(2400)]

PASS_TIMEOUT_S = 900


def _retraining_stack(copy_name: str, project: Path, config: Path, bucket: str) -> None:
    """The copy's stack file with the loop's keys: retrain on drift from the schedule, labels, promoteTo."""
    set_monitoring(
        project,
        copy_name,
        schedule="0 0 1 1 *",  # once a year: the test starts its pass by hand
        retrain={"onDrift": True, "onQualityDecay": False, "includeReference": True, "trainConfig": str(config)},
        labels=f"s3://{bucket}/labels/labels.csv",
        promoteTo="staging",
    )


def _write_drifted_window(endpoint: str, log_uri: str, bucket: str, model: str) -> None:
    """The breast-cancer rows as the last hour's traffic of version 1, `mean texture` moved by two standard
    deviations, and the ground truth of each request, in the stack's S3."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    features = data.data.copy()
    features["mean texture"] += 2.0 * features["mean texture"].std()
    start = datetime.now(UTC) - timedelta(hours=1)
    frame = log_frame(features.assign(_prediction=data.target), model=model, start=start)
    s3 = s3_client(endpoint)
    prefix = log_uri.removeprefix(f"s3://{bucket}/").strip("/")
    for day, part in frame.groupby(frame["_ts"].str.slice(0, 10)):
        buffer = io.BytesIO()
        part.to_parquet(buffer, index=False)
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{model}/date={day}/{start:%H}-e2e.parquet", Body=buffer.getvalue())
    labels = pd.DataFrame({"request_id": frame["_request_id"], "label": data.target}).to_csv(index=False)
    s3.put_object(Bucket=bucket, Key="labels/labels.csv", Body=labels.encode())


def _wait_for_pass(kubectl: Any, namespace: str, job: str) -> dict[str, Any]:
    deadline = time.monotonic() + PASS_TIMEOUT_S
    while time.monotonic() < deadline:
        found = kubectl.get(["-n", namespace, "job", job]) or {}
        conditions = found.get("status", {}).get("conditions") or []
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions):
            return found
        time.sleep(3)
    raise AssertionError(f"the monitoring pass {job} did not end within {PASS_TIMEOUT_S} s")


def _pass_log(kubectl: Any, namespace: str, job: str) -> str:
    done = kubectl.run(["-n", namespace, "logs", f"job/{job}", "--tail=200"])
    return str(done.stdout) + str(done.stderr)


def test_a_scheduled_pass_finds_drift_retrains_as_a_job_and_opens_a_request(
    tmp_path: Path, e2e_env: dict[str, str], cluster: Any, steps: Steps, model_name: str, monkeypatch: Any
) -> None:
    from mlflow import MlflowClient

    from ml.monitor.history import EXPERIMENT as MONITORING
    from ml.monitor.history import TAG_DRIFTED_FEATURES
    from ml.promote.promotion_requests import PENDING, list_requests
    from mlops.demo import champion_after_gates

    layout = cluster.layout
    kubectl = cluster.kubectl()
    copy = copy_stack("dev", tmp_path, e2e_env, layout.admin_kubeconfig, layout.containerd_socket, model_name)
    config = train_config(tmp_path, model_name)
    bucket = f"{copy.name}-artifacts"
    _retraining_stack(copy.name, Path(e2e_env["MLOPS_PROJECT_DIR"]), config, bucket)
    logs = tmp_path / "logs"
    print(f"\nthe commands' output: {logs}")
    try:
        with steps("env up (new stack)"):
            ok(mlops(["env", "up", copy.name, "--yes"], e2e_env, timeout=900), "env up", logs)
        login = tracking_login(copy.name, e2e_env)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", login[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", login[1])
        with steps("train v1 as a Job"):
            ok(mlops(["train", "--env", copy.name, "--config", str(config)], e2e_env, timeout=900), "train", logs)
        with steps("alias champion"):
            assert champion_after_gates(copy.tracking_uri, model_name, print) == "1"
        with steps("env up (serving v1 and the monitor's CronJob)"):
            ok(mlops(["env", "up", copy.name, "--yes"], e2e_env, timeout=900), "second env up", logs)
        outputs = stack_outputs(copy.name, e2e_env, logs)
        endpoint = outputs["training"]["s3"]["endpoint"]
        with steps("drifted window and labels written to S3"):
            _write_drifted_window(endpoint, outputs["prediction_log_uri"], bucket, model_name)

        cron_job = f"mlops-{copy.name}-monitor"
        assert kubectl.get(["-n", copy.namespace, "cronjob", cron_job]), "the stack's CronJob"
        role = kubectl.get(["-n", copy.training_namespace, "role", f"{cron_job}-retrain"]) or {}
        assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"create", "get", "list"}
        pass_job = "monitor-now"
        turn = "one scheduled turn: monitor pass, retraining Job, request"
        with steps(turn), PodWatch(kubectl, copy.training_namespace) as watch:
            kubectl.checked(["-n", copy.namespace, "create", "job", f"--from=cronjob/{cron_job}", pass_job])
            ended = _wait_for_pass(kubectl, copy.namespace, pass_job)
        said = _pass_log(kubectl, copy.namespace, pass_job)
        (logs / "monitor-pass.log").write_text(said)
        # Exit 3: drift, the finding of the pass; the retrain and the request come within it.
        assert ended["status"].get("failed") == 1 and "promotion request" in said, said[-4000:]

        client = MlflowClient(copy.tracking_uri, copy.tracking_uri)
        experiment = client.get_experiment_by_name(MONITORING)
        (monitoring_run,) = client.search_runs([experiment.experiment_id])
        assert "mean texture" in monitoring_run.data.tags[TAG_DRIFTED_FEATURES].split(",")

        training = outputs["training"]
        retrain_pods = [p for p in watch.pods.values() if LABEL_RETRAIN_OF in p["metadata"]["labels"]]
        assert retrain_pods, f"no retraining pod seen in {copy.training_namespace}"
        for pod in retrain_pods:
            assert pod["metadata"]["labels"][LABEL_RETRAIN_OF] == model_label(model_name)
            assert pod["spec"]["serviceAccountName"] == training["service_account"]
            assert pod["spec"]["containers"][0]["image"] == training["image"]

        version = client.get_model_version(model_name, "2")
        tags = version.tags
        assert_drift_trigger(tags, monitoring_run.info.run_id)
        assert tags["gates.passed"] == "true" and tags["job.name"] == retrain_pods[0]["metadata"]["labels"]["job-name"]
        assert client.get_model_version_by_alias(model_name, "challenger").version == "2"
        run_tags = client.get_run(version.run_id).data.tags
        assert run_tags[TAG_TRIGGER_MONITORING_RUN_ID] == monitoring_run.info.run_id

        (request,) = list_requests(copy.tracking_uri, status=PENDING)
        assert (request.model, request.version, request.source_env, request.target_env) == (
            model_name,
            "2",
            copy.name,
            "staging",
        )
        assert request.trigger[TAG_TRIGGER_MONITORING_RUN_ID] == monitoring_run.info.run_id
        print(json.dumps({"request": request.request_id, "version": "2"}))
    finally:
        with steps("env down --purge"):
            down = tear_down(copy.name, e2e_env)
    ok(down, "env down --purge", logs)
