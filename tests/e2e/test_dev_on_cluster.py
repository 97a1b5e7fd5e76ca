"""`dev` for real on a local cluster of the test's own: `mlops env up` (Pulumi, the real kubernetes provider),
a training Job in the stack's training namespace from the stack's own registry, the champion rolled out and
answering on its NodePort, `mlops env down --purge`, and the cluster purged whatever happened.

Every step is the real CLI in a subprocess on a copy of `stacks/Pulumi.dev.yaml` (`cluster_stacks.copy_stack`:
a stack name, namespaces, node ports, Pulumi backend and passphrase of its own). Skipped, saying why,
without root, without the cluster toolchain, or while another cluster of ours (a user's) runs. Each step's
duration is printed.
"""

from __future__ import annotations

import json

import pytest

from contract import VERSION_TAGS
from ml.jobs.spec import TAG_JOB_IMAGE, TAG_JOB_NAME
from tests.e2e.cluster_stacks import (
    StackCopy,
    copy_stack,
    events,
    http_status,
    post_json,
    tracking_login,
    wait_answering,
)
from tests.e2e.cluster_steps import EXAMPLE, ok, stack_outputs, train_config
from tests.support.local_cluster import PodWatch
from tests.support.mlops_cli import mlops, tear_down

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

SEARCH = "/api/2.0/mlflow/experiments/search"


def _check_tracking(copy: StackCopy, outputs: dict, env: dict[str, str]) -> tuple[str, str]:  # type: ignore[type-arg]
    assert outputs["tracking_uri"] == copy.tracking_uri
    assert wait_answering(f"{copy.tracking_uri}/health") == 200
    assert http_status(f"{copy.tracking_uri}{SEARCH}", b'{"max_results": 1}') == 401  # basic auth on
    login = tracking_login(copy.name, env)
    assert http_status(f"{copy.tracking_uri}{SEARCH}", b'{"max_results": 1}', login) == 200
    return login


UNITS = {"m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _amounts(resources: dict) -> dict:  # type: ignore[type-arg]
    """Requests and limits as numbers: the API server writes `1000m` back as `1` and `2048Mi` as `2Gi`."""

    def number(quantity: str) -> float:
        for suffix in sorted(UNITS, key=len, reverse=True):
            if quantity.endswith(suffix):
                return float(quantity.removesuffix(suffix)) * UNITS[suffix]
        return float(quantity)

    return {kind: {k: number(str(v)) for k, v in values.items()} for kind, values in resources.items()}


def _check_job(copy: StackCopy, outputs: dict, watch: PodWatch, kubectl, model: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    training, trainer = outputs["training"], outputs["images"]["trainer"]
    assert trainer.startswith(f"{copy.registry}/") and training["image"] == trainer
    assert training["namespace"] == copy.training_namespace
    assert watch.pods, f"no pod seen in {copy.training_namespace}"
    for pod in watch.pods.values():
        assert pod["spec"]["serviceAccountName"] == training["service_account"]
        (container,) = pod["spec"]["containers"]
        assert container["image"] == trainer
        assert _amounts(container["resources"]) == _amounts(training["resources"])
    # Pulled by containerd from the stack's registry (an imported image has no repository digest there).
    pulled = watch.pulled()
    assert pulled.get(trainer, "").startswith(f"{copy.registry}/mlops/trainer@sha256:"), pulled
    assert not [m for m in events(kubectl, copy.training_namespace, "Failed")]
    quota = kubectl.get(["-n", copy.training_namespace, "resourcequota", training["quota"]])
    limits = kubectl.get(["-n", copy.training_namespace, "limitrange", "training"])
    assert quota and limits, "the stack's quota and LimitRange guard the training namespace"

    from mlflow import MlflowClient

    tags = MlflowClient(copy.tracking_uri, copy.tracking_uri).get_model_version(model, "1").tags
    assert set(VERSION_TAGS) <= set(tags) and tags["gates.passed"] == "true"
    assert tags[TAG_JOB_IMAGE] == trainer
    job_names = {pod["metadata"]["labels"].get("job-name") for pod in watch.pods.values()}
    assert tags[TAG_JOB_NAME].startswith("train-") and job_names == {tags[TAG_JOB_NAME]}


def _check_serving(copy: StackCopy, outputs: dict, kubectl, model: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    import mlflow

    from ml import mlflow_log
    from mlops.demo import probe_rows

    assert outputs["serving_model_version_uri"] == f"models:/{model}/1"
    assert outputs["serving_endpoint"] == copy.serving_endpoint
    name = f"mlops-{copy.name}-serving"
    assert kubectl.deployment_available(copy.namespace, name)
    deployment = kubectl.get(["-n", copy.namespace, "deployment", name]) or {}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "MLOPS_MODEL_URI", "value": f"models:/{model}/1"} in container["env"]
    assert container["image"].startswith(f"{copy.registry}/mlops/server:")

    rows = probe_rows(EXAMPLE / "dataset.yaml", 25)
    served = post_json(f"{copy.serving_endpoint}/predict", {"records": json.loads(rows.to_json(orient="records"))})
    with mlflow_log.tracking_to(copy.tracking_uri):
        registered = mlflow.sklearn.load_model(f"models:/{model}/1")
    assert served["model_name"] == model and served["model_version"] == "1"
    assert served["predictions"] == registered.predict(rows).tolist()


def test_dev_comes_up_trains_as_a_job_serves_the_champion_and_goes(
    tmp_path, e2e_env, cluster, steps, model_name, monkeypatch
):
    from mlops.demo import champion_after_gates

    layout = cluster.layout
    kubectl = cluster.kubectl()
    copy = copy_stack("dev", tmp_path, e2e_env, layout.admin_kubeconfig, layout.containerd_socket, model_name)
    logs = tmp_path / "logs"
    print(f"\nthe commands' output: {logs}")
    down = None
    try:
        with steps("env up (new stack: registry, images, tracking, training namespace)"):
            ok(mlops(["env", "up", copy.name, "--yes"], e2e_env, timeout=900), "env up", logs)
        outputs = stack_outputs(copy.name, e2e_env, logs)
        login = _check_tracking(copy, outputs, e2e_env)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", login[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", login[1])

        config = train_config(tmp_path, model_name)
        with steps("train as a Job"), PodWatch(kubectl, copy.training_namespace) as watch:
            trained = mlops(["train", "--env", copy.name, "--config", str(config), "--json"], e2e_env, timeout=900)
        ok(trained, "train", logs)
        result = json.loads(trained.stdout.strip().splitlines()[-1])
        assert result["version"] == "1" and result["challenger"] is True
        said = " ".join(trained.stderr.split())  # the console wraps long lines
        assert f"namespace {copy.training_namespace}" in said, trained.stderr[-3000:]
        _check_job(copy, outputs, watch, kubectl, model_name)

        with steps("alias champion"):
            assert champion_after_gates(copy.tracking_uri, model_name, print) == "1"
        with steps("env up (serving rolls out v1)"):
            ok(mlops(["env", "up", copy.name, "--yes"], e2e_env, timeout=900), "second env up", logs)
        with steps("predict"):
            _check_serving(copy, stack_outputs(copy.name, e2e_env, logs), kubectl, model_name)
    finally:
        with steps("env down --purge"):
            down = tear_down(copy.name, e2e_env)
    ok(down, "env down --purge", logs)
    for namespace in (copy.namespace, copy.training_namespace):
        assert kubectl.get(["namespace", namespace]) is None, f"namespace {namespace} is left"
