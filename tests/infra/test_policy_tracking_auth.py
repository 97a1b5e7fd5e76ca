"""The production guardrail on the tracking server's login: MLflow's basic-auth app on both targets' tracking
workloads, read from the same property dicts the policy pack, the mocks tests and the manifests use."""

from __future__ import annotations

from typing import Any

import pytest

from infra.policy import rules
from infra.policy.rules import Resource

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONTAINER = "pulumi-python:dynamic:Resource"
SERVER_ARGS = ["--host", "0.0.0.0", "--port", "5000", "--serve-artifacts"]


def k8s_tracking(args: list[Any], component: str = "tracking") -> Resource:
    labels = {"app.kubernetes.io/component": component}
    props = {
        "metadata": {"name": "mlops-prod-tracking", "labels": labels},
        "spec": {
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "mlflow", "args": args}]}}
        },
    }
    return Resource(DEPLOYMENT, "tracking", props, "urn:k8s")


def docker_tracking(command: list[Any], role: str = "tracking") -> Resource:
    props = {"kind": "docker:Container", "name": "mlops-x-tracking", "labels": {"mlops.role": role}, "command": command}
    return Resource(CONTAINER, "tracking", props, "urn:docker")


@pytest.mark.parametrize("make", [k8s_tracking, docker_tracking])
def test_a_tracking_server_without_basic_auth_is_refused_and_with_it_passes(make: Any) -> None:
    refused = rules.tracking_auth_findings([make(SERVER_ARGS)])
    assert len(refused) == 1
    assert "without authentication" in refused[0].message and "mlops:tracking.auth: true" in refused[0].message
    assert refused[0].urn in ("urn:k8s", "urn:docker")
    assert rules.tracking_auth_findings([make(["--app-name", "basic-auth", *SERVER_ARGS])]) == []


@pytest.mark.parametrize("make", [k8s_tracking, docker_tracking])
def test_another_app_or_a_split_pair_is_not_basic_auth(make: Any) -> None:
    assert len(rules.tracking_auth_findings([make(["--app-name", "other", *SERVER_ARGS])])) == 1
    assert len(rules.tracking_auth_findings([make(["--app-name", *SERVER_ARGS, "basic-auth"])])) == 1
    # A command the engine does not know yet (an unknown value, not a list) proves nothing: refused.
    assert len(rules.tracking_auth_findings([make(None)])) == 1  # type: ignore[arg-type]


def test_workloads_that_are_not_the_tracking_server_are_not_its_concern() -> None:
    assert rules.tracking_auth_findings([k8s_tracking(SERVER_ARGS, component="serving")]) == []
    assert rules.tracking_auth_findings([docker_tracking(SERVER_ARGS, role="serving")]) == []
