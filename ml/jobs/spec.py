"""The `training` stack output, read once into a typed job spec, and the names of one job.

docker: `{target, image, tracking_uri, limits: {cpus, memory_mb}, network, labels, user}` (infra's
`components/docker/training.py` writes it, docs/architecture.md documents it). kubernetes: the same common
keys plus the cluster, namespace, ServiceAccount, resources, security contexts, the Job's retry, deadline
and TTL, and the S3 Secret (`components/kubernetes/training.py`; parsed by `ml.jobs.kubernetes_spec`).
A missing or malformed key is an error that says to re-run `mlops env up`, never a default: a job must not
run with limits or a network the stack did not declare.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import LABEL_ROLE
from ml.jobs.kubernetes_spec import KubernetesJob, OutputError

LABEL_JOB = "mlops.job"
"""The label naming a training job on every object it creates (container, scratch volume)."""
ROLE_TRAINING_JOB = "training-job"
TAG_JOB_NAME = "job.name"
TAG_JOB_IMAGE = "job.image"
TAG_JOB_DATA_ORIGIN = "job.data_origin"
"""The operator's local path of a dataset that was uploaded for the job (`data.uri` names the upload)."""
TARGETS = ("docker", "kubernetes")
COMPLETE, FAILED, TIMED_OUT = "Complete", "Failed", "TimedOut"
"""How a retraining job from the schedule ended, as its runner reports it (`ml.jobs.scheduled.JobRunner.wait`)."""


class JobSpecError(RuntimeError):
    """The stack's `training` output cannot drive a job; the message says what to do."""


@dataclass(frozen=True)
class Limits:
    cpus: float
    memory_mb: int


@dataclass(frozen=True)
class TrainingJobSpec:
    """Where and how an environment's training jobs run."""

    environment: str
    target: str
    image: str
    tracking_uri: str
    """The tracking server as the job sees it (by name on the stack network), not the operator's URI."""
    limits: Limits
    network: str
    """docker: the stack's network. kubernetes: the training namespace."""
    labels: Mapping[str, str] = field(default_factory=dict)
    user: str = "10001:10001"
    kubernetes: KubernetesJob | None = None
    """What only a Kubernetes Job needs; None on docker."""

    @property
    def where(self) -> str:
        """How the operator is told where the job runs."""
        if self.kubernetes is None:
            return f"network {self.network}"
        return f"namespace {self.kubernetes.namespace}"

    @classmethod
    def from_output(cls, environment: str, output: Any) -> TrainingJobSpec:
        """Parse the `training` output of `environment`; raise JobSpecError naming what is missing."""
        redo = f"run `mlops env up {environment}` to refresh its outputs"
        if not isinstance(output, Mapping) or not output:
            raise JobSpecError(f"environment '{environment}' exports no `training` job spec: {redo}")
        target = output.get("target")
        if target not in TARGETS:
            raise JobSpecError(
                f"environment '{environment}' trains on target {target!r}, which has no job launcher (known: "
                f"{', '.join(TARGETS)}): {redo}, or use --where local to train in this process"
            )
        place = "network" if target == "docker" else "namespace"
        missing = [k for k in ("image", "tracking_uri", place, "limits") if not output.get(k)]
        if missing:
            raise JobSpecError(f"the `training` output of '{environment}' lacks {', '.join(missing)}: {redo}")
        limits = output["limits"]
        try:
            parsed = Limits(cpus=float(limits["cpus"]), memory_mb=int(limits["memory_mb"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise JobSpecError(
                f"the `training.limits` output of '{environment}' is malformed ({limits!r}): {redo}"
            ) from exc
        kubernetes = None
        if target == "kubernetes":
            try:
                kubernetes = KubernetesJob.from_output(output)
            except OutputError as exc:
                raise JobSpecError(f"the `training` output of '{environment}' {exc}: {redo}") from exc
        return cls(
            environment=environment,
            target=str(target),
            image=str(output["image"]),
            tracking_uri=str(output["tracking_uri"]),
            limits=parsed,
            network=str(output[place]),
            labels={str(k): str(v) for k, v in (output.get("labels") or {}).items()},
            user=str(output.get("user") or "10001:10001"),
            kubernetes=kubernetes,
        )


_NAME_UNSAFE = re.compile(r"[^a-z0-9_.-]+")


def job_name(spec: TrainingJobSpec, model_name: str, suffix: str | None = None) -> str:
    """docker: `<network>-train-<model>-<8 hex>`, unique, a valid container name, readable in `docker ps`.

    kubernetes: `train-<model>-<8 hex>` (the namespace says whose), short enough for a Job whose pods'
    names and labels add a trial index and a suffix to it (a label value holds 63 characters)."""
    tail = suffix or uuid.uuid4().hex[:8]
    if spec.kubernetes is not None:
        model = re.sub(r"[^a-z0-9-]+", "-", model_name.lower()).strip("-")[:28].strip("-") or "model"
        return f"train-{model}-{tail}"
    model = _NAME_UNSAFE.sub("-", model_name.lower()).strip("-.")[:40] or "model"
    return f"{spec.network}-train-{model}-{tail}"


def job_labels(spec: TrainingJobSpec, name: str) -> dict[str, str]:
    """The stack's labels (so `env down` finds leftovers), its role and the job's own label."""
    return {**spec.labels, LABEL_ROLE: ROLE_TRAINING_JOB, LABEL_JOB: name}


def job_tags(spec: TrainingJobSpec, name: str) -> dict[str, str]:
    """The job identity recorded on the run and the registered version."""
    return {TAG_JOB_NAME: name, TAG_JOB_IMAGE: spec.image}


def job_context_json(
    tags: Mapping[str, str],
    git_commit: str,
    git_dirty: bool | None,
    data_uri: str | None = None,
    data_sha256: str | None = None,
    search_id: str | None = None,
) -> str:
    """The job file `python -m ml.train --job FILE` reads (`ml.train.job.JobContext.load`; a test checks
    the two agree). Written here so `mlops` never imports `ml.train`, whose import takes seconds."""
    git = {"commit": git_commit, "dirty": git_dirty}
    context = {"tags": dict(tags), "git": git, "data_uri": data_uri, "data_sha256": data_sha256}
    return json.dumps(context | ({"search_id": search_id} if search_id else {}))
