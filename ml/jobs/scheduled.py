"""A retraining Job started from inside the cluster by the scheduled monitor, with the pod's own ServiceAccount.

The stack renders what a retrain needs into the monitor's pod (`RetrainSetup`, a ConfigMap mounted at the
directory `contract.monitor_env.RETRAIN_DIR_ENV` names): the `training` stack output that `mlops train` reads
(image, namespace, ServiceAccount, resources, deadlines, S3 and login Secrets by reference), the model's
training config and dataset spec, and the environment's name. The Job is `mlops train`'s own
(`ml.jobs.kubernetes_manifests`); its files are a ConfigMap owned by the Job, so the Job's TTL removes both.
The monitor's Role in the training namespace lets it create Jobs and ConfigMaps and read Jobs, nothing else: it
never deletes anything, reads no log and no Secret.

A retrain of a model whose previous retrain Job still runs is not started: `concurrencyPolicy: Forbid` keeps two
monitor passes apart, not a pass and the Job an earlier pass started (a pass stopped by its deadline, a pass
started by hand).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from contract import monitor_env
from ml.jobs.kube_api import KubeApi
from ml.jobs.kubernetes_manifests import files_configmap, job_manifest
from ml.jobs.request import JobRequest
from ml.jobs.spec import COMPLETE, FAILED, TIMED_OUT, JobSpecError, TrainingJobSpec

log = logging.getLogger(__name__)

SETUP_FILE = monitor_env.RETRAIN_SETUP_FILE
TRAIN_CONFIG = monitor_env.RETRAIN_TRAIN_CONFIG
DATASET_SPEC = monitor_env.RETRAIN_DATASET_SPEC
LABEL_RETRAIN_OF = "mlops.retrain-of"
"""On a retrain Job started by the scheduled monitor: the model it retrains, as a label value."""
POLL_S = 5.0
WAIT_MARGIN_S = 120
"""How long past the Job's own `activeDeadlineSeconds` the monitor waits for the Job controller to say so."""


@dataclass(frozen=True)
class RetrainSetup:
    """What the stack rendered for retraining: the environment, its training job spec and the model's files."""

    environment: str
    spec: TrainingJobSpec
    directory: Path
    gate: str = ""
    """docker: the job gate's URL (`ml.jobs.gate`); its token is RETRAIN_GATE_TOKEN in `directory`."""

    @property
    def train_config(self) -> Path:
        """The model's training config; its `dataset:` is DATASET_SPEC beside it."""
        return self.directory / TRAIN_CONFIG

    @classmethod
    def load(cls, directory: Path) -> RetrainSetup:
        """Raise JobSpecError naming what is missing: a stack that retrains must render all of it."""
        try:
            raw = json.loads((directory / SETUP_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise JobSpecError(f"the retrain setup {directory / SETUP_FILE} cannot be read: {exc}") from exc
        environment = str(raw.get("environment") or "")
        spec = TrainingJobSpec.from_output(environment, raw.get("training"))
        gate = str(raw.get(monitor_env.GATE_KEY) or "")
        needed = [TRAIN_CONFIG, DATASET_SPEC]
        if spec.kubernetes is None:
            if not gate:
                raise JobSpecError(f"environment '{environment}' trains on {spec.target} and names no job gate")
            needed.append(monitor_env.RETRAIN_GATE_TOKEN)
        missing = [name for name in needed if not (directory / name).is_file()]
        if missing:
            raise JobSpecError(f"the retrain setup in {directory} lacks {', '.join(missing)}")
        return cls(environment, spec, directory, gate)

    def runner(self) -> JobRunner:
        """What starts and watches the retrain: the Kubernetes API with the pod's ServiceAccount, or the gate."""
        if self.spec.kubernetes is not None:
            return KubeJobs(KubeApi.in_cluster(), self.spec)
        from ml.jobs.gate_client import GateJobs

        return GateJobs(self.gate, (self.directory / monitor_env.RETRAIN_GATE_TOKEN).read_text().strip())


class JobRunner(Protocol):
    """Starts a model's retraining job and reads its end, on one target."""

    def running(self, model: str) -> str | None:
        """The name of a retrain of `model` that has not ended, if there is one."""

    def start(self, request: JobRequest, model: str) -> None: ...

    def wait(self, name: str) -> str:
        """COMPLETE, FAILED or TIMED_OUT."""


@dataclass(frozen=True)
class KubeJobs:
    """Retraining Jobs in the training namespace, started with the monitor pod's ServiceAccount."""

    api: KubeApi
    spec: TrainingJobSpec

    def running(self, model: str) -> str | None:
        return running_retrain(self.api, self.spec, model)

    def start(self, request: JobRequest, model: str) -> None:
        start_job(self.api, self.spec, retrain_request(request, model))

    def wait(self, name: str) -> str:
        return wait_for_job(self.api, self.spec, name)


def model_label(model: str) -> str:
    """`model` as a label value: at most 63 of [a-z0-9.-_], starting and ending alphanumeric."""
    value = re.sub(r"[^a-z0-9._-]+", "-", model.lower())[:63].strip("-._")
    return value or "model"


def job_state(job: Mapping[str, Any]) -> str | None:
    """COMPLETE or FAILED once the Job controller says so; None while it runs."""
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in (COMPLETE, FAILED):
            return str(condition["type"])
    return None


def _jobs_path(spec: TrainingJobSpec) -> str:
    assert spec.kubernetes is not None
    return f"/apis/batch/v1/namespaces/{spec.kubernetes.namespace}/jobs"


def running_retrain(api: KubeApi, spec: TrainingJobSpec, model: str) -> str | None:
    """The name of a retrain Job of `model` that has not finished, if there is one."""
    found = api.get(_jobs_path(spec), labelSelector=f"{LABEL_RETRAIN_OF}={model_label(model)}")
    running = [item["metadata"]["name"] for item in found.get("items", []) if job_state(item) is None]
    return sorted(running)[0] if running else None


def retrain_request(request: JobRequest, model: str) -> JobRequest:
    """The request with the label that `running_retrain` finds."""
    labels = {**request.labels, LABEL_RETRAIN_OF: model_label(model)}
    return JobRequest(request.name, request.args, request.files, labels, request.env, request.secret_files)


def start_job(api: KubeApi, spec: TrainingJobSpec, request: JobRequest) -> dict[str, Any]:
    """Create the Job, then its files' ConfigMap owned by it (the pod waits for the volume until it exists)."""
    assert spec.kubernetes is not None
    job = api.create(_jobs_path(spec), job_manifest(spec, request))
    files = files_configmap(spec, request)
    files["metadata"]["ownerReferences"] = [
        {"apiVersion": "batch/v1", "kind": "Job", "name": request.name, "uid": job["metadata"]["uid"]}
    ]
    api.create(f"/api/v1/namespaces/{spec.kubernetes.namespace}/configmaps", files)
    return job


def wait_for_job(
    api: KubeApi,
    spec: TrainingJobSpec,
    name: str,
    *,
    poll_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """COMPLETE or FAILED as the Job controller says, or TIMED_OUT past the Job's deadline and a margin."""
    assert spec.kubernetes is not None
    deadline = clock() + spec.kubernetes.active_deadline_seconds + WAIT_MARGIN_S
    while True:
        state = job_state(api.get(f"{_jobs_path(spec)}/{name}"))
        if state is not None:
            return state
        if clock() >= deadline:
            return TIMED_OUT
        sleep(POLL_S if poll_s is None else poll_s)
