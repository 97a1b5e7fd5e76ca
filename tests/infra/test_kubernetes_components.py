"""Kubernetes components in the modes the stack files do not use: external registry and database, no model yet,
public URLs, a storage class and a kubeconfig context. The program runs under Pulumi mocks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.support.kubernetes_schema import kubernetes_schema_problem
from tests.support.pulumi_mocks import ProgramRun, run_program, stack_config, unwrap

pytestmark = pytest.mark.usefixtures("kubernetes_schemas_read_once")

SECRETS = {
    "registryPassword": "registry-pass",
    "postgresPassword": "unused-pg-pass",
    "artifactsAccessKeyId": "AKIAEXAMPLE",
    "artifactsSecretAccessKey": "s3-secret",
    "trackingDatabaseUrl": "postgresql://mlflow:pw@db.internal.example:5432/mlflow",
}
MODEL = "models:/breast-cancer/4"


def prod_with(**kubernetes: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_config("prod"))
    for key, value in kubernetes.items():
        config["kubernetes"][key] = {**config["kubernetes"].get(key, {}), **value} if isinstance(value, dict) else value
    return config


def objects(run: ProgramRun, kind: str) -> list[dict[str, Any]]:
    return [unwrap(r.inputs) for r in run.resources if r.typ == f"kubernetes:{kind}"]


def named(run: ProgramRun, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects(run, kind)}


def schema_problems(run: ProgramRun) -> list[str]:
    problems = []
    for resource in run.resources:
        if resource.typ.startswith("kubernetes:") and not resource.typ.startswith("kubernetes:providers"):
            problem = kubernetes_schema_problem(unwrap(resource.inputs))
            if problem:
                problems.append(problem)
    return problems


@pytest.fixture(scope="module")
def external() -> ProgramRun:
    config = prod_with(
        registry={"mode": "external", "address": "ghcr.io/acme/mlops", "pushAddress": "ghcr.io/acme/mlops"},
        tracking={"database": "external"},
    )
    return run_program("prod", config, SECRETS, resolved_model=MODEL)


def test_external_registry_runs_nothing_and_images_live_there(external: ProgramRun) -> None:
    deployments = named(external, "apps/v1:Deployment")
    assert "mlops-prod-registry" not in deployments
    assert "mlops-prod-registry" not in named(external, "core/v1:Service")
    assert "mlops-prod-registry-data" not in named(external, "core/v1:PersistentVolumeClaim")
    images = external.outputs["images"]
    assert set(images) == {"tracking", "server", "trainer", "postgres"}
    for role, ref in images.items():
        assert ref.startswith(f"ghcr.io/acme/mlops/{role}:"), ref
    pushed = [
        unwrap(r.inputs) for r in external.resources if r.inputs.get("kind") == "docker:Image" and r.inputs["push"]
    ]
    assert {p["registry"]["address"] for p in pushed} == {"ghcr.io"}
    pull = [s for s in objects(external, "core/v1:Secret") if s.get("type") == "kubernetes.io/dockerconfigjson"]
    assert len(pull) == 2
    auths = json.loads(pull[0]["stringData"][".dockerconfigjson"])["auths"]
    assert set(auths) == {"ghcr.io"} and auths["ghcr.io"]["password"] == "registry-pass"
    server = deployments["mlops-prod-serving"]["spec"]["template"]["spec"]
    assert server["containers"][0]["image"] == images["server"]
    assert server["imagePullSecrets"] == [{"name": "mlops-prod-registry-pull"}]


def test_external_database_runs_no_postgres_and_uses_the_url_secret(external: ProgramRun) -> None:
    assert objects(external, "apps/v1:StatefulSet") == []
    store = named(external, "core/v1:Secret")["mlops-prod-tracking-store"]
    assert store["stringData"]["MLOPS_BACKEND_STORE_URI"] == SECRETS["trackingDatabaseUrl"]
    assert schema_problems(external) == []


def test_no_model_yet_means_no_serving_objects() -> None:
    run = run_program("staging", stack_config("staging"), SECRETS, resolved_model="")
    assert "mlops-staging-serving" not in named(run, "apps/v1:Deployment")
    assert objects(run, "autoscaling/v2:HorizontalPodAutoscaler") == []
    assert objects(run, "policy/v1:PodDisruptionBudget") == []
    assert run.outputs["serving_endpoint"] == ""
    assert run.outputs["prediction_log_uri"] == "s3://mlops-staging-artifacts/predictions"
    assert "mlops-staging-tracking" in named(run, "apps/v1:Deployment")


def test_public_urls_storage_class_and_context() -> None:
    config = prod_with(
        storageClass="fast-ssd", context="prod-admin", serving={"publicUrl": "https://predict.example.org"}
    )
    config["tracking"] = {**config["tracking"], "publicUrl": "https://mlflow.example.org"}
    run = run_program("prod", config, SECRETS, resolved_model=MODEL)
    assert run.outputs["tracking_uri"] == "https://mlflow.example.org"
    assert run.outputs["tracking_uri_internal"] == "http://mlops-prod-tracking.mlops-prod.svc.cluster.local:5000"
    assert run.outputs["serving_endpoint"] == "https://predict.example.org"
    mlflow = named(run, "apps/v1:Deployment")["mlops-prod-tracking"]["spec"]["template"]["spec"]["containers"][0]
    allowed = mlflow["args"][mlflow["args"].index("--allowed-hosts") + 1].split(",")
    assert "mlflow.example.org" in allowed and "mlops-prod-tracking.mlops-prod.svc.cluster.local:5000" in allowed
    claims = [
        *objects(run, "core/v1:PersistentVolumeClaim"),
        *(t for s in objects(run, "apps/v1:StatefulSet") for t in s["spec"]["volumeClaimTemplates"]),
    ]
    assert claims and {c["spec"]["storageClassName"] for c in claims} == {"fast-ssd"}
    providers = [unwrap(r.inputs) for r in run.resources if r.typ == "pulumi:providers:kubernetes"]
    assert len(providers) == 2 and {p["context"] for p in providers} == {"prod-admin"}


def test_sqlite_tracking_keeps_one_pod_on_its_volume() -> None:
    run = run_program("dev", stack_config("dev"), SECRETS, resolved_model=MODEL)
    tracking = named(run, "apps/v1:Deployment")["mlops-dev-tracking"]
    pod = tracking["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "mlops-dev-tracking-data"}} in pod["volumes"]
    assert {"name": "data", "mountPath": "/data"} in pod["containers"][0]["volumeMounts"]
    assert tracking["spec"]["strategy"] == {"type": "Recreate"}
    assert schema_problems(run) == []


def test_local_cluster_objects_fit_a_small_node_and_own_their_volumes() -> None:
    from infra.components.kubernetes import VOLUME_OWNER
    from infra.policy import rules

    run = run_program("staging", stack_config("staging"), SECRETS, resolved_model=MODEL)
    assert schema_problems(run) == []
    deployments = named(run, "apps/v1:Deployment")
    registry = deployments["mlops-staging-registry"]["spec"]["template"]["spec"]
    # Our registry image, imported into the node; no upstream image anywhere.
    assert registry["containers"][0]["image"].startswith("mlops-staging/registry:")
    assert [c["name"] for c in registry["initContainers"]] == [VOLUME_OWNER]
    images = [
        c["image"]
        for kind in ("apps/v1:Deployment", "apps/v1:StatefulSet")
        for o in objects(run, kind)
        for c in o["spec"]["template"]["spec"].get("containers", [])
        + o["spec"]["template"]["spec"].get("initContainers", [])
    ]
    assert not [i for i in images if i.startswith("docker.io/")], images
    (db,) = objects(run, "apps/v1:StatefulSet")
    assert db["spec"]["template"]["spec"]["containers"][0]["image"].startswith("127.0.0.1:30501/mlops/postgres:")
    assert db["spec"]["template"]["spec"]["initContainers"][0]["command"][:2] == ["chown", "999:999"]
    # Requests are a fraction of the limits on the local cluster.
    server = deployments["mlops-staging-serving"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert server["limits"]["cpu"] == "1000m" and server["requests"]["cpu"] == "50m"
    # The volume owner runs as root with CHOWN/FOWNER only, and it is the one root container the pack accepts.
    for kind, obj in [("kubernetes:apps/v1:Deployment", d) for d in deployments.values()] + [
        ("kubernetes:apps/v1:StatefulSet", db)
    ]:
        assert rules.resource_findings(kind, obj).get("containers-non-root", []) == [], obj["metadata"]["name"]
    services = named(run, "core/v1:Service")
    assert services["mlops-staging-tracking"]["spec"]["ports"][0]["nodePort"] == 30601
    assert run.outputs["serving_endpoint"] == "http://127.0.0.1:30701"
    kinds = {r.typ for r in run.resources}
    assert "pulumi-python:dynamic:Resource" in kinds or any(
        "Bucket" in r.name or "bucket" in r.name for r in run.resources
    )


def test_a_root_init_container_that_is_not_the_volume_owner_is_refused() -> None:
    from infra.components.kubernetes import volume_owner
    from infra.policy import rules

    sneaky = {**volume_owner("img:1", "/data"), "command": ["sh", "-c", "id"]}
    spec = {
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "initContainers": [sneaky],
                    "containers": [{"name": "app", "image": "img:1"}],
                }
            }
        }
    }
    assert rules.resource_findings("kubernetes:apps/v1:Deployment", spec).get("containers-non-root")
    spec["spec"]["template"]["spec"]["initContainers"] = [volume_owner("img:1", "/data")]
    assert not rules.resource_findings("kubernetes:apps/v1:Deployment", spec).get("containers-non-root")


def test_kubeconfig_of_the_stack_reaches_the_providers_and_the_callers_never_does(monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/home/someone/.kube/config")
    run = run_program("dev", stack_config("dev"), SECRETS, resolved_model=MODEL)
    providers = [unwrap(r.inputs) for r in run.resources if r.typ == "pulumi:providers:kubernetes"]
    assert providers and all(p.get("kubeconfig") == "/var/lib/mlops-cluster/admin.kubeconfig" for p in providers)
    config = copy.deepcopy(stack_config("dev"))
    config["kubernetes"]["cluster"] = "external"
    config["kubernetes"]["images"] = {"registry": "mirror.example.org/mlops/registry:1"}
    run = run_program("dev", config, SECRETS, resolved_model=MODEL)
    providers = [unwrap(r.inputs) for r in run.resources if r.typ == "pulumi:providers:kubernetes"]
    assert providers and all("/home/someone" not in json.dumps(p) for p in providers)
