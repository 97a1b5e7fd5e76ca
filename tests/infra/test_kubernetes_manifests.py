"""The kubernetes stacks rendered to YAML offline and validated against the Kubernetes OpenAPI schemas.

The program runs under Pulumi mocks; each mocked Kubernetes object's inputs become one manifest (secrets
unwrapped, the engine's float numbers turned back into integers where they are whole). Validation is
strict: a field the API does not know, like a misplaced `httpHeaders`, fails it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kubernetes_schema import kubernetes_schema_problem
from tests.support.pulumi_mocks import run_program, stack_config, unwrap

pytestmark = pytest.mark.usefixtures("kubernetes_schemas_read_once")

STACKS = ("dev", "staging", "prod")
SECRETS = {
    "registryPassword": "registry-pass",
    "postgresPassword": "pg-pass",
    "artifactsAccessKeyId": "AKIAEXAMPLE",
    "artifactsSecretAccessKey": "s3-secret",
}


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def render(stack: str) -> list[dict[str, Any]]:
    """Every Kubernetes object the stack declares, as the manifest the provider would apply."""
    run = run_program(stack, stack_config(stack), SECRETS, resolved_model="models:/breast-cancer/7")
    manifests = []
    for resource in run.resources:
        if not resource.typ.startswith("kubernetes:") or resource.typ.startswith("kubernetes:providers"):
            continue
        manifest = _integral(unwrap(resource.inputs))
        group_version, kind = resource.typ.removeprefix("kubernetes:").rsplit(":", 1)
        assert manifest["kind"] == kind and manifest["apiVersion"] == group_version.removeprefix("core/")
        manifests.append(manifest)
    return manifests


_RENDERED: dict[str, list[dict[str, Any]]] = {}


def manifests(stack: str) -> list[dict[str, Any]]:
    if stack not in _RENDERED:
        _RENDERED[stack] = render(stack)
    return _RENDERED[stack]


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_manifests_are_valid_kubernetes(stack: str, tmp_path: Path) -> None:
    rendered = manifests(stack)
    out = tmp_path / f"{stack}.yaml"
    out.write_text(yaml.safe_dump_all(rendered, sort_keys=True))
    # The YAML on disk is what `kubectl apply --dry-run=server -f` would take; validate what was written.
    documents = list(yaml.safe_load_all(out.read_text()))
    assert len(documents) == len(rendered) >= 20
    problems = [p for p in map(kubernetes_schema_problem, documents) if p]
    assert problems == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_kind_the_design_names_is_rendered(stack: str) -> None:
    kinds = {m["kind"] for m in manifests(stack)}
    expected = {
        "Namespace",
        "Deployment",
        "Service",
        "PersistentVolumeClaim",
        "Secret",
        "ResourceQuota",
        "LimitRange",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    if stack_config(stack)["kubernetes"]["serving"]["autoscaling"]["enabled"]:
        expected.add("HorizontalPodAutoscaler")
    if stack_config(stack)["tracking"]["backend"] == "postgres":
        expected.add("StatefulSet")
    assert expected <= kinds


def test_validation_rejects_a_broken_manifest() -> None:
    (deployment,) = [
        m for m in manifests("prod") if m["kind"] == "Deployment" and m["metadata"]["name"] == "mlops-prod-serving"
    ]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    probe = broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpHeaders"] = probe["httpGet"].pop("path")
    problem = kubernetes_schema_problem(broken)
    assert problem is not None and "httpHeaders" in problem
