"""`mlops loop status`: where the loop of one environment stands, read from what it leaves behind.

The last monitoring pass is the newest run of the `monitoring` experiment (`ml.monitor.history`); open
retrains are the training jobs running now on the stack's training cluster (docker: its job containers;
kubernetes: its Jobs with active pods); pending requests are the `pending` runs of
`mlops-promotion-requests` (`ml.promote.promotion_requests`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from contract import LABEL_ROLE, LABEL_STACK, Outputs

if TYPE_CHECKING:
    from mlops.stacks import Environment


@dataclass(frozen=True)
class LastMonitoring:
    run_id: str
    started: str
    model: str
    model_version: str
    status: str
    drifted_features: list[str]
    window: str
    rows: int | None


@dataclass(frozen=True)
class LoopStatus:
    env: str
    last_monitoring: LastMonitoring | None
    open_retrains: list[dict[str, str]] = field(default_factory=list)
    open_retrains_unknown: str = ""
    """Why the running jobs could not be listed, when they could not (the rest is still reported)."""
    pending_requests: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(millis: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(millis / 1000))


def last_monitoring(tracking_uri: str) -> LastMonitoring | None:
    from mlflow import MlflowClient

    from ml.monitor.history import EXPERIMENT, TAG_DRIFTED_FEATURES, TAG_STATUS

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    run = runs[0]
    tags, rows = run.data.tags, run.data.metrics.get("rows")
    return LastMonitoring(
        run_id=run.info.run_id,
        started=_iso(run.info.start_time),
        model=tags.get("model.name", ""),
        model_version=tags.get("model.version", ""),
        status=tags.get(TAG_STATUS, ""),
        drifted_features=[f for f in tags.get(TAG_DRIFTED_FEATURES, "").split(",") if f],
        window=f"{tags.get('window.start', '')}/{tags.get('window.end', '')}",
        rows=int(rows) if rows is not None else None,
    )


def running_jobs(environment: Environment) -> list[dict[str, str]]:
    """The training jobs of the environment running now; raises when the cluster cannot be asked."""
    from ml.jobs.spec import LABEL_JOB, ROLE_TRAINING_JOB, TrainingJobSpec

    spec = TrainingJobSpec.from_output(environment.name, environment.outputs.get(Outputs.TRAINING))
    if spec.kubernetes is None:
        import docker

        labels = [f"{LABEL_ROLE}={ROLE_TRAINING_JOB}"]
        if stack := spec.labels.get(LABEL_STACK):
            labels.append(f"{LABEL_STACK}={stack}")
        containers = docker.from_env().containers.list(filters={"label": labels, "status": "running"})
        return [
            {"name": c.labels.get(LABEL_JOB, c.name), "started": c.attrs["State"]["StartedAt"][:19]} for c in containers
        ]
    from ml.jobs.kube_api import KubeApi

    job = spec.kubernetes
    api = KubeApi.from_kubeconfig(job.kubeconfig, job.context)
    found = api.get(
        f"/apis/batch/v1/namespaces/{job.namespace}/jobs", labelSelector=f"{LABEL_ROLE}={ROLE_TRAINING_JOB}"
    )
    return [
        {"name": item["metadata"]["name"], "started": str(item.get("status", {}).get("startTime", ""))}
        for item in found.get("items", [])
        if item.get("status", {}).get("active")
    ]


def loop_status(environment: Environment) -> LoopStatus:
    from dataclasses import asdict as as_dict

    from ml.promote.promotion_requests import PENDING, list_requests

    tracking_uri = environment.tracking_uri
    try:
        jobs, unknown = running_jobs(environment), ""
    except Exception as exc:  # an unreachable cluster must not hide the monitoring and the requests
        jobs, unknown = [], f"{type(exc).__name__}: {str(exc)[:300]}"
    return LoopStatus(
        env=environment.name,
        last_monitoring=last_monitoring(tracking_uri),
        open_retrains=jobs,
        open_retrains_unknown=unknown,
        pending_requests=[as_dict(r) for r in list_requests(tracking_uri, status=PENDING)],
    )
