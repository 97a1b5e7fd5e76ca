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
    assert set(images) == {"tracking", "server", "trainer"}
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
