"""What a training Job is on Kubernetes, as plain manifests (pure: what the unit tests check).

One `batch/v1` Job per `mlops train` (an Indexed Job for the trials of a search: `completions` = trials,
`parallelism` from the config, each pod reading its trial from `JOB_COMPLETION_INDEX`), in the training
namespace, under its ServiceAccount without an API token, the stack's trainer image, requests and limits
inside the quota, `backoffLimit` (per index for trials, so one failing trial does not stop the others),
`activeDeadlineSeconds` and `ttlSecondsAfterFinished` from the stack. The job's files come from a
ConfigMap mounted read-only at JOB_DIR; the S3 credentials from the training namespace's Secret by
reference, and the tracking server's login, when it has one, as a file from its Secret; scratch space for
HOME and TMPDIR is an emptyDir under a read-only root filesystem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV
from ml.jobs.kubernetes_spec import KubernetesJob
from ml.jobs.request import JOB_DIR, SCRATCH_DIR, SECRETS_DIR, JobRequest, scratch_env
from ml.jobs.spec import TrainingJobSpec

CONTAINER = "trainer"
FILES_MODE = 0o444
LABEL_JOB_NAME = "batch.kubernetes.io/job-name"
"""Set by the Job controller on its pods (Kubernetes 1.27+)."""
SCRATCH_LIMIT = "2Gi"
TMP_LIMIT = "64Mi"
SECRET_MODE = 0o440
"""Readable by the pod's group (fsGroup), which the non-root user is in."""


def configmap_name(job: str) -> str:
    return f"{job}-files"


def files_configmap(spec: TrainingJobSpec, request: JobRequest) -> dict[str, Any]:
    """The job's files (config, dataset spec, job context: nothing secret) as one ConfigMap."""
    kube = _kube(spec)
    data = {path.name: path.read_text() for path in sorted(Path(request.files).iterdir()) if path.is_file()}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": configmap_name(request.name), "namespace": kube.namespace, "labels": dict(request.labels)},
        "data": data,
    }


def _env(spec: TrainingJobSpec, request: JobRequest) -> list[dict[str, Any]]:
    kube = _kube(spec)
    env: list[dict[str, Any]] = [
        *({"name": k, "value": v} for k, v in scratch_env().items()),
        *({"name": k, "value": v} for k, v in sorted(request.env.items())),
    ]
    if kube.s3 is not None:
        env += [
            {"name": "AWS_ENDPOINT_URL_S3", "value": kube.s3.endpoint},
            {"name": "AWS_DEFAULT_REGION", "value": kube.s3.region},
        ]
        env += [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": kube.s3.secret, "key": key}}}
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        ]
    if kube.tracking_login is not None:
        env += [
            {"name": TRACKING_USERNAME_ENV, "value": kube.tracking_login.username},
            {"name": TRACKING_PASSWORD_FILE_ENV, "value": f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}"},
        ]
    return env


def pod_template(spec: TrainingJobSpec, request: JobRequest) -> dict[str, Any]:
    kube = _kube(spec)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image,
        "imagePullPolicy": kube.image_pull_policy,
        "args": list(request.args),
        "workingDir": SCRATCH_DIR,
        "env": _env(spec, request),
        "resources": {part: dict(values) for part, values in kube.resources.items() if values},
        "securityContext": dict(kube.security_context),
        "volumeMounts": [
            {"name": "job", "mountPath": JOB_DIR, "readOnly": True},
            {"name": "scratch", "mountPath": SCRATCH_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes: list[dict[str, Any]] = [
        {"name": "job", "configMap": {"name": configmap_name(request.name), "defaultMode": FILES_MODE}},
        {"name": "scratch", "emptyDir": {"sizeLimit": SCRATCH_LIMIT}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": TMP_LIMIT}},
    ]
    if kube.tracking_login is not None:
        container["volumeMounts"].append({"name": "tracking-login", "mountPath": SECRETS_DIR, "readOnly": True})
        items = [{"key": "password", "path": TRACKING_PASSWORD_FILE}]
        secret = {"secretName": kube.tracking_login.secret, "items": items, "defaultMode": SECRET_MODE}
        volumes.append({"name": "tracking-login", "secret": secret})
    return {
        "metadata": {"labels": dict(request.labels)},
        "spec": {
            "restartPolicy": "Never",
            "serviceAccountName": kube.service_account,
            "automountServiceAccountToken": False,
            "securityContext": dict(kube.pod_security_context),
            "containers": [container],
            "volumes": volumes,
        },
    }


def job_manifest(
    spec: TrainingJobSpec, request: JobRequest, *, trials: int | None = None, parallelism: int = 1
) -> dict[str, Any]:
    """The Job of one training, or (`trials`) the Indexed Job of a search's trials."""
    kube = _kube(spec)
    job_spec: dict[str, Any] = {
        "activeDeadlineSeconds": kube.active_deadline_seconds,
        "ttlSecondsAfterFinished": kube.ttl_seconds_after_finished,
        "template": pod_template(spec, request),
    }
    if trials is None:
        job_spec["backoffLimit"] = kube.backoff_limit
    else:
        job_spec |= {
            "completionMode": "Indexed",
            "completions": trials,
            "parallelism": max(1, min(parallelism, trials)),
            # Per index: a failing trial is recorded and retried on its own; the others go on.
            "backoffLimitPerIndex": kube.backoff_limit,
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": request.name, "namespace": kube.namespace, "labels": dict(request.labels)},
        "spec": job_spec,
    }


def _kube(spec: TrainingJobSpec) -> KubernetesJob:
    if spec.kubernetes is None:
        raise ValueError(f"environment '{spec.environment}' is not a kubernetes target")
    return spec.kubernetes
