"""dev, staging and prod for real on one local cluster of the test's own, and a model promoted through them.

Copies of `stacks/Pulumi.{dev,staging,prod}.yaml` (`cluster_stacks.copy_stack`: stack names, namespaces,
node ports, buckets, Pulumi backend and passphrase of the test's own) go up side by side with `mlops env up`:
the real Pulumi CLI and kubernetes provider, each with its own in-cluster registry, MLflow server (SQLite in
dev, two replicas on a Postgres StatefulSet in staging and prod) and artifacts in the cluster's S3. Then:

1. `mlops train --env dev` runs as a Job in dev's training namespace, from dev's registry;
2. `mlops promote` dev -> staging, then staging -> prod: prod refuses without approval (exit 3), then
   promotes with it; prod's pods answer with the registry champion's predictions, and its preview with the
   policy pack (mandatory there: `production: true`) passes with nothing to change;
3. a clearly worse model is refused by staging's gates (exit 2) and staging keeps its champion;
4. a model the serving image cannot load: its rollout never becomes ready and is rolled back (exit 4), while a
   client sends requests to staging throughout and not one fails (the previous ReplicaSet keeps serving);
5. `mlops env down --purge` of each leaves none of its namespaces; the cluster is purged whatever happens.

Skipped, saying why, without root, without the cluster toolchain, or while another cluster of ours runs.
Each step's duration is printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from contract import VERSION_TAGS
from ml.jobs.spec import TAG_JOB_IMAGE, TAG_JOB_NAME
from tests.e2e.cluster_stacks import (
    StackCopy,
    copy_stack,
    events,
    http_status,
    post_json,
    set_config,
    tracking_login,
    wait_answering,
)
from tests.e2e.cluster_steps import EXAMPLE, ok, stack_outputs, train_config
from tests.e2e.unportable import register_unportable
from tests.support.fault_stack import Client
from tests.support.local_cluster import PodWatch, free_node_ports
from tests.support.mlops_cli import mlops, tear_down
from tests.support.paths import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.timeout(3600)]

SEARCH = "/api/2.0/mlflow/experiments/search"
HERE = Path(__file__).resolve().parent
BASES = ("dev", "staging", "prod")


def _check_tracking(copy: StackCopy, outputs: dict[str, Any], env: dict[str, str], kubectl: Any) -> None:
    """Answering on its node port, basic auth on, and (Postgres, two replicas) no replica restarted: the
    schema is created once, not raced by the replicas' first starts."""
    assert outputs["tracking_uri"] == copy.tracking_uri
    assert wait_answering(f"{copy.tracking_uri}/health") == 200
    assert http_status(f"{copy.tracking_uri}{SEARCH}", b'{"max_results": 1}') == 401
    login = tracking_login(copy.name, env)
    assert http_status(f"{copy.tracking_uri}{SEARCH}", b'{"max_results": 1}', login) == 200
    pods = (kubectl.get(["-n", copy.namespace, "pods", "-l", "app.kubernetes.io/component=tracking"]) or {})["items"]
    restarts = {p["metadata"]["name"]: [s["restartCount"] for s in p["status"]["containerStatuses"]] for p in pods}
    assert pods and all(count == [0] for count in restarts.values()), restarts


UNITS = {"m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _amounts(resources: dict[str, Any]) -> dict[str, Any]:
    """Requests and limits as numbers: the API server writes `1000m` back as `1` and `2048Mi` as `2Gi`."""

    def number(quantity: str) -> float:
        for suffix in sorted(UNITS, key=len, reverse=True):
            if quantity.endswith(suffix):
                return float(quantity.removesuffix(suffix)) * UNITS[suffix]
        return float(quantity)

    return {kind: {k: number(str(v)) for k, v in values.items()} for kind, values in resources.items()}


def _check_job(copy: StackCopy, outputs: dict[str, Any], watch: PodWatch, kubectl: Any, model: str) -> None:
    """The Job ran in the training namespace under its ServiceAccount and sizes, on the image containerd
    pulled from the stack's registry (an imported image has no repository digest there)."""
    from mlflow import MlflowClient

    training, trainer = outputs["training"], outputs["images"]["trainer"]
    assert trainer.startswith(f"{copy.registry}/") and training["image"] == trainer
    assert training["namespace"] == copy.training_namespace
    assert watch.pods, f"no pod seen in {copy.training_namespace}"
    for pod in watch.pods.values():
        assert pod["spec"]["serviceAccountName"] == training["service_account"]
        (container,) = pod["spec"]["containers"]
        assert container["image"] == trainer
        assert _amounts(container["resources"]) == _amounts(training["resources"])
    pulled = watch.pulled()
    assert pulled.get(trainer, "").startswith(f"{copy.registry}/mlops/trainer@sha256:"), pulled
    assert not events(kubectl, copy.training_namespace, "Failed")
    assert kubectl.get(["-n", copy.training_namespace, "resourcequota", training["quota"]])
    assert kubectl.get(["-n", copy.training_namespace, "limitrange", "training"])
    tags = MlflowClient(copy.tracking_uri, copy.tracking_uri).get_model_version(model, "1").tags
    assert set(VERSION_TAGS) <= set(tags) and tags["gates.passed"] == "true"
    assert tags[TAG_JOB_IMAGE] == trainer
    job_names = {pod["metadata"]["labels"].get("job-name") for pod in watch.pods.values()}
    assert tags[TAG_JOB_NAME].startswith("train-") and job_names == {tags[TAG_JOB_NAME]}


def _champion(copy: StackCopy, model: str) -> Any:
    from ml.promote.versions import get_version

    return get_version(copy.tracking_uri, model, alias="champion")


def _check_serves_champion(copy: StackCopy, outputs: dict[str, Any], kubectl: Any, model: str) -> str:
    """Real requests to the stack's pods get what the registry's champion predicts; its version."""
    import mlflow

    from ml import mlflow_log
    from mlops.demo import probe_rows

    champion = _champion(copy, model)
    assert outputs["serving_model_version_uri"] == f"models:/{model}/{champion.version}"
    assert outputs["serving_endpoint"] == copy.serving_endpoint
    name = f"mlops-{copy.name}-serving"
    assert kubectl.deployment_available(copy.namespace, name)
    deployment = kubectl.get(["-n", copy.namespace, "deployment", name]) or {}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith(f"{copy.registry}/mlops/server:")
    rows = probe_rows(EXAMPLE / "dataset.yaml", 25)
    served = post_json(f"{copy.serving_endpoint}/predict", {"records": json.loads(rows.to_json(orient="records"))})
    with mlflow_log.tracking_to(copy.tracking_uri):
        registered = mlflow.sklearn.load_model(f"models:/{model}/{champion.version}")
    assert served["model_name"] == model and served["model_version"] == champion.version
    assert served["predictions"] == registered.predict(rows).tolist()
    return str(champion.version)


def test_dev_staging_and_prod_come_up_and_a_model_is_promoted_through_them(
    tmp_path, e2e_env, cluster, steps, model_name, monkeypatch
):
    layout = cluster.layout
    kubectl = cluster.kubectl()
    ports = free_node_ports(3 * len(BASES))
    dev, staging, prod = (
        copy_stack(
            base,
            tmp_path,
            e2e_env,
            layout.admin_kubeconfig,
            layout.containerd_socket,
            model_name,
            ports[3 * i : 3 * i + 3],
        )
        for i, base in enumerate(BASES)
    )
    # A rollout that never becomes ready fails after this long (180 s in the stack file): the same rollback,
    # sooner. Ample for a pod that loads a model here, under CI's load too (other tests run beside this one).
    set_config(staging.name, "serving.readyTimeoutSeconds", "120", e2e_env)
    logs = tmp_path / "logs"
    print(f"\nthe commands' output: {logs}")

    def promote(source: StackCopy, target: StackCopy, *extra: str, env: dict[str, str] = e2e_env) -> Any:
        return mlops(["promote", model_name, "--from", source.name, "--to", target.name, *extra], env, timeout=1200)

    downs = []
    try:
        outputs = {}
        for copy in (dev, staging, prod):
            with steps(f"env up {copy.name} (new stack)"):
                ok(mlops(["env", "up", copy.name, "--yes"], e2e_env, timeout=1200), f"env up {copy.name}", logs)
            outputs[copy.name] = stack_outputs(copy.name, e2e_env, logs)
            _check_tracking(copy, outputs[copy.name], e2e_env, kubectl)
            assert "serving_endpoint" not in outputs[copy.name] or not outputs[copy.name]["serving_endpoint"]
        with steps("env up (no change)"):
            again = mlops(["env", "up", dev.name, "--yes"], e2e_env, timeout=600)
        ok(again, "env up again", logs)

        # Every stack's login differs; MLflow calls of this process carry the one of the server they go to.
        logins = {copy.name: tracking_login(copy.name, e2e_env) for copy in (dev, staging, prod)}

        def login(copy: StackCopy) -> None:
            monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", logins[copy.name][0])
            monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", logins[copy.name][1])

        login(dev)
        with steps("train as a Job in dev"), PodWatch(kubectl, dev.training_namespace) as watch:
            trained = mlops(
                ["train", "--env", dev.name, "--config", str(train_config(tmp_path, model_name)), "--json"],
                e2e_env,
                timeout=900,
            )
        ok(trained, "train", logs)
        assert json.loads(trained.stdout.strip().splitlines()[-1])["version"] == "1"
        _check_job(dev, outputs[dev.name], watch, kubectl, model_name)

        with steps("promote dev -> staging"):
            ok(promote(dev, staging), "promote dev -> staging", logs)
        login(staging)
        staged = _check_serves_champion(staging, stack_outputs(staging.name, e2e_env, logs), kubectl, model_name)
        assert _champion(staging, model_name).tags["lineage.source_env"] == dev.name

        with steps("promote staging -> prod without approval"):
            unapproved = promote(staging, prod, "--alias", "champion")
        assert unapproved.returncode == 3, unapproved.stdout[-4000:]
        with steps("promote staging -> prod (approved, rollout of three replicas)"):
            ok(promote(staging, prod, "--alias", "champion", "--approve"), "promote staging -> prod", logs)
        login(prod)
        prod_outputs = stack_outputs(prod.name, e2e_env, logs)
        assert _check_serves_champion(prod, prod_outputs, kubectl, model_name) == "1"
        assert _champion(prod, model_name).tags["lineage.source_env"] == staging.name
        with steps("preview prod with the policy pack"):
            previewed = mlops(["env", "preview", prod.name, "--policy-pack", "infra/policy", "--json"], e2e_env)
        ok(previewed, "preview prod with the policy pack", logs)  # a mandatory violation fails the preview
        (summary,) = [e["summary_event"] for e in json.loads(previewed.stdout)["events"] if e.get("summary_event")]
        assert [name.split("|")[0] for name in summary["policy_packs"]] == ["mlops-guardrails"], summary
        assert set(summary["resource_changes"]) == {"same"}, summary

        login(dev)
        with steps("train a worse model in dev"):
            weak = mlops(
                [
                    "train",
                    "--env",
                    dev.name,
                    "--config",
                    str(train_config(tmp_path, model_name, HERE / "weak_train.yaml")),
                ],
                e2e_env,
                timeout=900,
            )
        ok(weak, "train the worse model", logs)
        with steps("promote the worse model (refused)"):
            refused = promote(dev, staging)
        assert refused.returncode == 2, refused.stdout[-4000:]
        login(staging)
        assert _champion(staging, model_name).version == staged
        good = _champion(staging, model_name).tags["lineage.source_version"]  # its version in dev

        login(dev)
        register_unportable(dev.tracking_uri, model_name, good)
        from mlops.demo import probe_rows

        rows = json.loads(probe_rows(EXAMPLE / "dataset.yaml", 5).to_json(orient="records"))
        client = Client(staging.serving_endpoint, rows).start()
        # The promoting process loads the model (the `tests` package is on its path); the serving image cannot.
        env = {**e2e_env, "PYTHONPATH": os.pathsep.join([str(REPO), e2e_env.get("PYTHONPATH", "")])}
        with steps("promote a model that cannot load (rolled back)"):
            failed = promote(dev, staging, env=env)
        client.stop()
        assert failed.returncode == 4, f"{failed.stdout[-5000:]}\n{failed.stderr[-3000:]}"
        assert "restoring the previous state" in failed.stdout
        print(f"requests to staging during the failed rollout: {len(client.failures)} failed of {client.sent}")
        assert client.sent > 20 and not client.failures, client.failures[:5]
        login(staging)
        assert _champion(staging, model_name).version == staged
        assert (
            _check_serves_champion(staging, stack_outputs(staging.name, e2e_env, logs), kubectl, model_name) == staged
        )
        history = mlops(["promotions", staging.name, "--json"], e2e_env)
        ok(history, "promotions", logs)
        assert [entry["outcome"] for entry in json.loads(history.stdout)] == ["rolled_back", "refused", "promoted"]
    finally:
        for copy in (prod, staging, dev):
            with steps(f"env down --purge {copy.name}"):
                downs.append(tear_down(copy.name, e2e_env))
    for down in downs:
        assert down.returncode == 0, down.stdout[-3000:]
    for copy in (dev, staging, prod):
        for namespace in (copy.namespace, copy.training_namespace):
            assert kubectl.get(["namespace", namespace]) is None, f"namespace {namespace} is left"
