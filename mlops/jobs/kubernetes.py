"""Training jobs on the kubernetes target: a `batch/v1` Job in the stack's training namespace.

`preflight` reaches the cluster with the stack's kubeconfig and checks that one training pod fits the
namespace's quota. `run` creates the job's files as a ConfigMap and the Job (`kubernetes_manifests`),
streams each pod's log as it runs, and ends with the container's exit code. An image that cannot be
pulled, or pods the quota refuses (the Job's FailedCreate event), end the wait at once with what to do.
The Job (its pods with it) and the ConfigMap are deleted however it ends, Ctrl-C and SIGTERM included;
`ttlSecondsAfterFinished` only bounds a Job left behind by an operator machine that died.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any

from ml.jobs.kube_api import KubeApi, KubeApiError, KubeConfigError, KubeUnreachable
from ml.jobs.kubernetes_manifests import CONTAINER, LABEL_JOB_NAME, configmap_name, files_configmap, job_manifest
from ml.jobs.kubernetes_spec import KubernetesJob
from ml.jobs.spec import TrainingJobSpec
from mlops.jobs.kube_watch import (
    PULL_ERRORS,
    JobState,
    PodState,
    failed_creates,
    is_summary,
    job_state,
    over_quota,
    pod_state,
    quantity,
)
from mlops.jobs.launcher import TAIL_LINES, JobFailedToStart, JobRequest, JobResult, LogSink, TrialsResult
from mlops.jobs.signals import sigterm_as_interrupt, uninterruptible

INTERRUPTED_EXIT = 130
UNREACHABLE_GRACE_S = 60.0
GONE_TIMEOUT_S = 30.0
QUOTA_FIX = (
    "wait for the namespace's other training jobs to end, or lower mlops:training.cpus / memoryMb, or raise "
    "mlops:kubernetes.training.quota, then `mlops env up`"
)


def _kube(spec: TrainingJobSpec) -> KubernetesJob:
    if spec.kubernetes is None:
        raise JobFailedToStart(f"environment '{spec.environment}' is not on the kubernetes target")
    return spec.kubernetes


class KubernetesLauncher:
    """`JobLauncher` for the kubernetes target, over the API server's REST API."""

    def __init__(self, api: KubeApi | None = None, poll_seconds: float = 0.5) -> None:
        self.api, self.poll_seconds = api, poll_seconds
        self.quota_hard: dict[str, str] = {}

    def _connect(self, spec: TrainingJobSpec) -> KubeApi:
        if self.api is None:
            kube = _kube(spec)
            try:
                self.api = KubeApi.from_kubeconfig(kube.kubeconfig, kube.context)
            except KubeConfigError as exc:
                raise JobFailedToStart(str(exc)) from exc
        return self.api

    def preflight(self, spec: TrainingJobSpec) -> None:
        api, kube = self._connect(spec), _kube(spec)
        if not kube.quota:
            return
        where = f"quota '{kube.quota}' of namespace {kube.namespace}"
        try:
            quota = api.get(f"/api/v1/namespaces/{kube.namespace}/resourcequotas/{kube.quota}")
        except KubeUnreachable as exc:
            raise JobFailedToStart(
                f"{exc}: is the cluster of '{spec.environment}' up (`mlops cluster up` for the local one)? "
                "Else check mlops:kubernetes.kubeconfig / context"
            ) from exc
        except KubeApiError as exc:
            if exc.status == 404:
                raise JobFailedToStart(
                    f"the training {where} does not exist ({exc.message}): run `mlops env up {spec.environment}`"
                ) from exc
            raise JobFailedToStart(
                f"reading the training {where} failed ({exc}): the kubeconfig's user needs the training "
                "namespace's `job-launcher` Role (or use an admin kubeconfig)"
            ) from exc
        self.quota_hard = dict((quota.get("status") or {}).get("hard") or (quota.get("spec") or {}).get("hard") or {})
        over = over_quota(kube.resources, self.quota_hard)
        if over:
            raise JobFailedToStart(
                f"one training pod needs more than the {where} allows ({'; '.join(over)}): lower "
                "mlops:training.cpus / memoryMb or raise mlops:kubernetes.training.quota, then `mlops env up "
                f"{spec.environment}`"
            )

    def fitting_pods(self, spec: TrainingJobSpec) -> int | None:
        """How many training pods the quota's hard limits hold at once (None: no quota known)."""
        if not self.quota_hard:
            return None
        fits = []
        for part, values in _kube(spec).resources.items():
            for resource, amount in values.items():
                for key in (f"{part}.{resource}", *([resource] if part == "requests" else [])):
                    if key in self.quota_hard and quantity(amount) > 0:
                        fits.append(math.floor(quantity(self.quota_hard[key]) / quantity(amount) + 1e-9))
        if "pods" in self.quota_hard:
            fits.append(int(quantity(self.quota_hard["pods"])))
        return min(fits) if fits else None

    def run(self, spec: TrainingJobSpec, request: JobRequest, sink: LogSink) -> JobResult:
        session = _Session(self._connect(spec), _kube(spec), request, sink, self.poll_seconds, trials=False)
        try:
            state = session.start_and_watch(job_manifest(spec, request), files_configmap(spec, request))
        except KeyboardInterrupt:
            tail = list(session.tail)
            return JobResult(request.name, INTERRUPTED_EXIT, "", tail, "interrupted", interrupted=True)
        finally:
            session.clean_up()
        pod = session.last_pod()
        lines = session.logs.get(pod.name, []) if pod else []
        exit_code = pod.exit_code if pod and pod.exit_code is not None else 1
        # The pod's own reason (OOMKilled, Evicted) says most; else the Job's (deadline, backoff limit).
        reason = (pod.reason if pod else None) or ((state.message or state.reason) if state.failed else None)
        return JobResult(request.name, exit_code, "\n".join(lines), list(session.tail), reason)

    def run_trials(
        self, spec: TrainingJobSpec, request: JobRequest, trials: int, parallelism: int, sink: LogSink
    ) -> TrialsResult:
        session = _Session(self._connect(spec), _kube(spec), request, sink, self.poll_seconds, trials=True)
        manifest = job_manifest(spec, request, trials=trials, parallelism=parallelism)
        try:
            state = session.start_and_watch(manifest, files_configmap(spec, request))
        except KeyboardInterrupt:
            return TrialsResult(request.name, {}, interrupted=True)
        finally:
            session.clean_up()
        failed: dict[int, str] = {}
        for pod in session.pods.values():
            if pod.index is None or not (pod.exit_code or pod.reason):
                continue
            last = (session.logs.get(pod.name) or [""])[-1]
            failed[pod.index] = (
                f"exit code {pod.exit_code}"
                + (f" ({pod.reason})" if pod.reason else "")
                + (f": {last}" if last else "")
            )
        for index in state.failed_indexes:
            failed.setdefault(index, f"failed ({state.reason or 'no pod result'})")
        succeeded = {p.index for p in session.pods.values() if p.exit_code == 0}
        failed = {i: why for i, why in failed.items() if i not in succeeded}
        error = state.message if state.failed and state.reason not in ("", "FailedIndexes") else None
        return TrialsResult(request.name, failed, error=error)


class _Session:
    """One Job from creation to deletion: the poll loop, the log streams, the clean-up."""

    def __init__(
        self, api: KubeApi, kube: KubernetesJob, request: JobRequest, sink: LogSink, poll: float, *, trials: bool
    ) -> None:
        self.api, self.kube, self.request, self.sink, self.poll, self.trials = api, kube, request, sink, poll, trials
        self.ns = kube.namespace
        self.pods: dict[str, PodState] = {}
        self.logs: dict[str, list[str]] = {}
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.threads: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()
        self.created = False
        self.interrupted = False
        self.noticed: set[str] = set()

    @property
    def job_path(self) -> str:
        return f"/apis/batch/v1/namespaces/{self.ns}/jobs/{self.request.name}"

    def start_and_watch(self, job: dict[str, Any], files: dict[str, Any]) -> JobState:
        try:
            with sigterm_as_interrupt():
                try:
                    self.created = True
                    self.api.create(f"/api/v1/namespaces/{self.ns}/configmaps", files)
                    self.api.create(f"/apis/batch/v1/namespaces/{self.ns}/jobs", job)
                except KubeApiError as exc:
                    raise JobFailedToStart(
                        f"the cluster refused Job {self.request.name} in namespace {self.ns}: {exc.message}"
                    ) from exc
                except KubeUnreachable as exc:
                    raise JobFailedToStart(str(exc)) from exc
                return self._watch()
        except KeyboardInterrupt:
            self.interrupted = True
            raise

    def _watch(self) -> JobState:
        silent_since: float | None = None
        while True:
            try:
                state = job_state(self.api.get(self.job_path))
                selector = f"{LABEL_JOB_NAME}={self.request.name}"
                items = self.api.get(f"/api/v1/namespaces/{self.ns}/pods", labelSelector=selector)["items"]
                events = self.api.get(
                    f"/api/v1/namespaces/{self.ns}/events",
                    fieldSelector=f"involvedObject.kind=Job,involvedObject.name={self.request.name}",
                )["items"]
                silent_since = None
            except KubeUnreachable:
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since > UNREACHABLE_GRACE_S:
                    raise
                time.sleep(1.0)
                continue
            if refused := failed_creates(events):
                raise JobFailedToStart(
                    f"the cluster refused the pods of Job {self.request.name} in namespace {self.ns}: {refused[-1]}. "
                    f"What to do: {QUOTA_FIX}"
                )
            for pod in map(pod_state, items):
                self._follow(pod)
            if state.done:
                for thread in self.threads.values():
                    thread.join(timeout=15)
                return state
            time.sleep(self.poll)

    def _follow(self, pod: PodState) -> None:
        self.pods[pod.name] = pod
        if pod.reason in PULL_ERRORS:
            raise JobFailedToStart(
                f"the trainer image cannot be pulled ({pod.reason}: {pod.message or 'no detail'}). What to do: "
                "check that `mlops env up` pushed it to the stack's registry and that the nodes reach that "
                "registry (mlops:kubernetes.images, imagePullPolicy)"
            )
        if pod.reason in ("CreateContainerConfigError", "CreateContainerError"):
            raise JobFailedToStart(f"pod {pod.name} cannot start its container ({pod.reason}: {pod.message})")
        if pod.unschedulable and pod.name not in self.noticed:
            self.noticed.add(pod.name)
            self._say(f"- waiting: pod {pod.name} cannot be scheduled yet: {pod.unschedulable}")
        if pod.started and pod.name not in self.threads:
            prefix = f"[trial {pod.index + 1}] " if self.trials and pod.index is not None else ""
            thread = threading.Thread(target=self._stream, args=(pod.name, prefix), daemon=True)
            self.threads[pod.name] = thread
            thread.start()

    def _stream(self, pod: str, prefix: str) -> None:
        lines = self.logs.setdefault(pod, [])
        path = f"/api/v1/namespaces/{self.ns}/pods/{pod}/log"
        try:
            for line in self.api.lines(path, container=CONTAINER, follow="true"):
                lines.append(line)
                if not is_summary(line):
                    self._say(prefix + line)
        except (KubeApiError, KubeUnreachable, OSError):
            pass  # the pod was deleted (Ctrl-C) or the cluster went away: the poll loop reports it

    def _say(self, line: str) -> None:
        with self.lock:
            self.tail.append(line)
            self.sink(line)

    def last_pod(self) -> PodState | None:
        ended = [p for p in self.pods.values() if p.exit_code is not None or p.reason]
        candidates = ended or list(self.pods.values())
        return candidates[-1] if candidates else None

    def clean_up(self) -> None:
        if not self.created:
            return
        with uninterruptible():
            try:
                self.api.delete(self.job_path, propagation="Background")
                self.api.delete(f"/api/v1/namespaces/{self.ns}/configmaps/{configmap_name(self.request.name)}")
                if self.interrupted:
                    self._wait_pods_gone()
            except (KubeApiError, KubeUnreachable) as exc:
                self.sink(f"could not delete Job {self.request.name} in namespace {self.ns}: {exc}")

    def _wait_pods_gone(self) -> None:
        deadline = time.monotonic() + GONE_TIMEOUT_S
        selector = f"{LABEL_JOB_NAME}={self.request.name}"
        while time.monotonic() < deadline:
            if not self.api.get(f"/api/v1/namespaces/{self.ns}/pods", labelSelector=selector)["items"]:
                return
            time.sleep(0.5)
