"""Pure parts of the Kubernetes job: the stack's `training` output -> job spec -> Job and ConfigMap manifests,
and reading a Job's state (pull errors, quota refusals, failed indexes) from what the API returns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.jobs.kubernetes_manifests import configmap_name, files_configmap, job_manifest
from ml.jobs.request import JOB_DIR, JobRequest, job_args
from ml.jobs.spec import JobSpecError, TrainingJobSpec, job_labels, job_name
from mlops.jobs.kube_watch import failed_creates, is_summary, job_state, over_quota, pod_state, quantity
from tests.support.kubernetes_schema import kubernetes_schema_problem

RESOURCES = {"requests": {"cpu": "50m", "memory": "102Mi"}, "limits": {"cpu": "1000m", "memory": "2048Mi"}}
OUTPUT = {
    "target": "kubernetes",
    "kubeconfig": "/var/lib/mlops-cluster/admin.kubeconfig",
    "context": "",
    "image": "127.0.0.1:30500/mlops-dev/trainer:0123456789abcdef0123",
    "tracking_uri": "http://mlops-dev-tracking.mlops-dev.svc.cluster.local:5000",
    "namespace": "mlops-dev-training",
    "service_account": "trainer",
    "launcher_service_account": "launcher",
    "limits": {"cpus": 1.0, "memory_mb": 2048},
    "resources": RESOURCES,
    "image_pull_policy": "IfNotPresent",
    "pod_security_context": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
    "security_context": {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
    "labels": {"app.kubernetes.io/part-of": "mlops-platform"},
    "backoff_limit": 0,
    "active_deadline_seconds": 3600,
    "ttl_seconds_after_finished": 3600,
    "quota": "training",
    "s3": {"endpoint": "http://10.244.0.1:9000", "region": "us-east-1", "secret": "training-s3"},
}


def _spec(**changes: object) -> TrainingJobSpec:
    return TrainingJobSpec.from_output("dev", {**OUTPUT, **changes})


def _request(spec: TrainingJobSpec, files: Path) -> JobRequest:
    (files / "train.yaml").write_text("model_name: m\n")
    (files / "job.json").write_text("{}")
    name = job_name(spec, "Breast_Cancer model, the long name of it", suffix="abcd1234")
    return JobRequest(name=name, args=job_args(spec, None), files=files, labels=job_labels(spec, name))


def test_the_output_becomes_a_kubernetes_job_spec():
    spec = _spec()
    assert spec.kubernetes is not None
    kube = spec.kubernetes
    assert (kube.namespace, kube.service_account, kube.quota) == ("mlops-dev-training", "trainer", "training")
    assert (kube.backoff_limit, kube.active_deadline_seconds, kube.ttl_seconds_after_finished) == (0, 3600, 3600)
    assert kube.s3 is not None and kube.s3.secret == "training-s3"
    assert spec.where == "namespace mlops-dev-training"


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"namespace": ""}, "lacks namespace"),
        ({"service_account": None}, "lacks service_account"),
        ({"backoff_limit": -1}, "malformed"),
        ({"resources": {"requests": {}}}, "malformed"),
        ({"s3": {"endpoint": "http://x"}}, "malformed"),
    ],
)
def test_an_unusable_kubernetes_output_names_what_is_wrong(changes, needle):
    with pytest.raises(JobSpecError, match=needle) as err:
        _spec(**changes)
    assert "mlops env up dev" in str(err.value)


def test_a_job_name_fits_the_label_limit_with_room_for_a_suffix_and_an_index():
    name = job_name(_spec(), "Breast_Cancer model, the long name of it", suffix="abcd1234")
    assert name == "train-breast-cancer-model-the-long-abcd1234"
    assert len(name + "-trials") <= 52


def test_the_job_runs_the_trainer_locked_down_with_its_files_and_s3_credentials_by_reference(tmp_path):
    spec = _spec()
    request = _request(spec, tmp_path)
    job = job_manifest(spec, request)
    assert kubernetes_schema_problem(job) is None
    assert job["metadata"]["namespace"] == "mlops-dev-training"
    assert job["spec"]["backoffLimit"] == 0 and "completionMode" not in job["spec"]
    assert job["spec"]["activeDeadlineSeconds"] == 3600 and job["spec"]["ttlSecondsAfterFinished"] == 3600
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "trainer" and pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"] == OUTPUT["image"] and container["resources"] == RESOURCES
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["args"][:2] == ["--config", f"{JOB_DIR}/train.yaml"]
    assert OUTPUT["tracking_uri"] in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": "training-s3", "key": "AWS_ACCESS_KEY_ID"}
    assert "value" not in env["AWS_SECRET_ACCESS_KEY"]  # never a credential in the Job spec
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "http://10.244.0.1:9000"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[JOB_DIR]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["job"]["configMap"]["name"] == configmap_name(request.name)

    files = files_configmap(spec, request)
    assert kubernetes_schema_problem(files) is None
    assert files["metadata"]["name"] == configmap_name(request.name)
    assert files["data"] == {"job.json": "{}", "train.yaml": "model_name: m\n"}


def test_the_trials_are_one_indexed_job_with_a_retry_budget_per_index(tmp_path):
    spec = _spec(backoff_limit=1)
    job = job_manifest(spec, _request(spec, tmp_path), trials=4, parallelism=8)
    assert kubernetes_schema_problem(job) is None
    assert job["spec"]["completionMode"] == "Indexed"
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (4, 4)
    assert job["spec"]["backoffLimitPerIndex"] == 1 and "backoffLimit" not in job["spec"]


def test_quantities_and_what_a_quota_cannot_hold():
    assert quantity("500m") == 0.5 and quantity("2") == 2 and quantity("1Gi") == 2**30 and quantity("1G") == 1e9
    hard = {"limits.cpu": "4", "requests.cpu": "4", "limits.memory": "8Gi", "pods": "4"}
    assert over_quota(RESOURCES, hard) == []
    assert over_quota({"limits": {"cpu": "8", "memory": "1Gi"}}, hard) == ["limits.cpu: 8 > 4"]
    assert over_quota(RESOURCES, {"limits.memory": "3Gi"}, pods=2) == ["limits.memory: 2 x 2048Mi > 3Gi"]


def test_a_pull_error_an_eviction_and_an_index_are_read_from_the_pod():
    waiting = {
        "metadata": {"name": "p", "annotations": {"batch.kubernetes.io/job-completion-index": "2"}},
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull", "message": "connection refused"}}}],
        },
    }
    state = pod_state(waiting)
    assert (state.index, state.started, state.reason, state.message) == (2, False, "ErrImagePull", "connection refused")
    evicted = {"metadata": {"name": "q"}, "status": {"phase": "Failed", "reason": "Evicted", "message": "low memory"}}
    assert pod_state(evicted).reason == "Evicted"
    done = {"metadata": {"name": "r"}, "status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 0}}}]}}
    assert (pod_state(done).started, pod_state(done).exit_code, pod_state(done).reason) == (True, 0, None)
    oom = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
    assert (
        pod_state({"metadata": {"name": "s"}, "status": {"containerStatuses": [{"state": oom}]}}).reason == "OOMKilled"
    )


def test_a_quota_refusal_and_failed_indexes_are_read_from_the_job():
    refusal = 'pods "train-x-" is forbidden: exceeded quota: training, requested: limits.cpu=1, used: limits.cpu=2'
    events = [{"reason": "SuccessfulCreate", "message": "ok"}, {"reason": "FailedCreate", "message": refusal}]
    assert failed_creates(events) == [refusal]
    job = {
        "status": {
            "failedIndexes": "1,3-4",
            "conditions": [{"type": "Failed", "status": "True", "reason": "FailedIndexes", "message": "m"}],
        }
    }
    state = job_state(job)
    assert (state.done, state.failed, state.failed_indexes) == (True, True, (1, 3, 4))
    assert job_state({"status": {}}).done is False


def test_only_the_summary_line_is_kept_off_the_streamed_log():
    assert is_summary(json.dumps({"run_id": "r", "model_name": "m", "version": "1"}))
    assert not is_summary('{"level": "info"}') and not is_summary("- data ok")


@pytest.mark.parametrize(
    ("training", "key", "allowed"),
    [
        ({"backoffLimit": -1}, "backoffLimit", "0 to 10"),
        ({"activeDeadlineSeconds": 10}, "activeDeadlineSeconds", "60 to 604800"),
        ({"ttlSecondsAfterFinished": "1h"}, "ttlSecondsAfterFinished", "integer"),
    ],
)
def test_the_jobs_settings_are_validated_like_the_others(training, key, allowed):
    import pulumi
    import yaml

    from infra import settings
    from infra.settings import SettingsError
    from tests.support.paths import REPO

    config = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("mlops:")}
    given = {
        k: pulumi.Output.secret("x")
        for k in ("registryPassword", "postgresPassword", "artifactsAccessKeyId", "artifactsSecretAccessKey")
    }
    parsed = settings.parse("dev", "mlops-platform", raw, given).kubernetes
    assert parsed is not None and parsed.training.backoff_limit == 0
    assert (parsed.training.active_deadline_seconds, parsed.training.ttl_seconds_after_finished) == (3600, 3600)
    raw["kubernetes"] = {**raw["kubernetes"], "training": {**raw["kubernetes"]["training"], **training}}
    with pytest.raises(SettingsError) as err:
        settings.parse("dev", "mlops-platform", raw, given)
    assert f"mlops:kubernetes.training.{key}" in str(err.value) and allowed in str(err.value)


def test_the_trials_parallelism_is_lowered_to_what_the_quota_holds():
    import io

    from rich.console import Console

    from ml.training_config import SearchConfig
    from mlops.jobs.kubernetes import KubernetesLauncher
    from mlops.jobs.search_jobs import parallelism_for

    launcher = KubernetesLauncher(api=object())  # type: ignore[arg-type]
    launcher.quota_hard = {"limits.cpu": "2500m", "requests.cpu": "4", "limits.memory": "8Gi", "pods": "10"}
    spec = _spec()
    assert launcher.fitting_pods(spec) == 2  # 2.5 cores of limits hold two pods of one core
    out = io.StringIO()
    search = SearchConfig(params={"C": [0.1, 1.0, 10.0, 100.0]}, trials=4, parallelism=3)
    assert parallelism_for(launcher, spec, search, Console(file=out, width=200)) == 2
    assert "search.parallelism 3 lowered to 2" in out.getvalue()
    assert parallelism_for(launcher, spec, search.model_copy(update={"parallelism": 1}), Console(file=out)) == 1
