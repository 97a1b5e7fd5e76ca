"""Stack-wide guardrails of production stacks: enough serving replicas, a disruption budget for them, and a
tracking server that requires a login."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infra.policy.rules.resources import (
    COMPONENT_LABEL,
    DEPLOYMENT,
    DOCKER_ROLE_LABEL,
    HPA_TYPES,
    MIN_PRODUCTION_REPLICAS,
    PDB_TYPES,
    SERVING_COMPONENT,
    Finding,
    Resource,
    containers,
    dig,
    is_docker_container,
    items,
    pod_spec,
)

TRACKING_COMPONENT = "tracking"
AUTH_APP = ("--app-name", "basic-auth")


def is_serving(resource: Resource) -> bool:
    if resource.type == DEPLOYMENT:
        return dig(resource.props, "metadata", "labels", COMPONENT_LABEL) == SERVING_COMPONENT
    return is_docker_container(resource.props) and dig(resource.props, "labels", DOCKER_ROLE_LABEL) == SERVING_COMPONENT


def _name_and_namespace(props: Mapping[str, Any]) -> tuple[Any, Any]:
    return dig(props, "metadata", "name"), dig(props, "metadata", "namespace")


def _minimum_replicas(deployment: Resource, autoscalers: Sequence[Resource]) -> tuple[int, str]:
    """The fewest pods the Deployment can run, and what decides it."""
    name, namespace = _name_and_namespace(deployment.props)
    for hpa in autoscalers:
        target = dig(hpa.props, "spec", "scaleTargetRef") or {}
        hpa_name, hpa_namespace = _name_and_namespace(hpa.props)
        if target.get("kind") == "Deployment" and target.get("name") == name and hpa_namespace == namespace:
            minimum = dig(hpa.props, "spec", "minReplicas")
            return (int(minimum) if isinstance(minimum, int | float) else 1), f"HorizontalPodAutoscaler {hpa_name!r}"
    replicas = dig(deployment.props, "spec", "replicas")
    return (int(replicas) if isinstance(replicas, int | float) else 1), "spec.replicas"


def serves_nothing_findings(resources: Sequence[Resource]) -> list[Finding]:
    """Production: the stack serves a model. A preview that plans no serving workload at all is refused,
    whether the model reference stopped resolving or the config lost it: serving never disappears from
    production by way of an update. (A production stack's very first rollout, before any model was
    promoted to it, needs this policy set to advisory with `--policy-pack-config` once.)"""
    if any(is_serving(r) for r in resources):
        return []
    return [
        Finding(
            "production stack serves nothing: no serving workload is planned (check mlops:serving.modelUri and "
            "that the model reference resolves)",
            "",
        )
    ]


def serving_replica_findings(resources: Sequence[Resource]) -> list[Finding]:
    """Production: serving must keep at least two replicas, so one can drain while another answers.

    A stack that serves nothing is `serves_nothing_findings`' concern, not this one's.
    """
    deployments = [r for r in resources if r.type == DEPLOYMENT and is_serving(r)]
    autoscalers = [r for r in resources if r.type in HPA_TYPES]
    docker_replicas = [r for r in resources if r.type != DEPLOYMENT and is_serving(r)]
    findings = []
    for deployment in deployments:
        minimum, source = _minimum_replicas(deployment, autoscalers)
        if minimum < MIN_PRODUCTION_REPLICAS:
            findings.append(
                Finding(
                    f"serving Deployment {deployment.name!r} can run {minimum} replica(s) ({source}); "
                    f"production needs at least {MIN_PRODUCTION_REPLICAS}",
                    deployment.urn,
                )
            )
    if docker_replicas and len(docker_replicas) < MIN_PRODUCTION_REPLICAS:
        findings.append(
            Finding(
                f"{len(docker_replicas)} serving container(s); production needs at least {MIN_PRODUCTION_REPLICAS}",
                docker_replicas[0].urn,
            )
        )
    return findings


def _selects(selector: Any, labels: Any) -> bool:
    match = dig(selector, "matchLabels")
    if not isinstance(match, Mapping) or not match or not isinstance(labels, Mapping):
        return False
    return all(labels.get(key) == value for key, value in match.items())


def _budget_protects(pdb: Resource) -> bool:
    spec = dig(pdb.props, "spec") or {}
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None:
        return str(min_available).strip() not in ("0", "0%")
    return max_unavailable is not None and str(max_unavailable).strip() not in ("100%",)


def disruption_budget_findings(resources: Sequence[Resource]) -> list[Finding]:
    """Production: every serving Deployment has a PodDisruptionBudget that keeps some pods up."""
    deployments = [r for r in resources if r.type == DEPLOYMENT and is_serving(r)]
    budgets = [r for r in resources if r.type in PDB_TYPES]
    findings = []
    for deployment in deployments:
        _, namespace = _name_and_namespace(deployment.props)
        pod_labels = dig(deployment.props, "spec", "template", "metadata", "labels")
        covering = [
            pdb
            for pdb in budgets
            if _name_and_namespace(pdb.props)[1] == namespace
            and _selects(dig(pdb.props, "spec", "selector"), pod_labels)
        ]
        if not covering:
            findings.append(
                Finding(
                    f"serving Deployment {deployment.name!r} has no PodDisruptionBudget selecting its pods",
                    deployment.urn,
                )
            )
        elif not any(_budget_protects(pdb) for pdb in covering):
            findings.append(
                Finding(
                    f"the PodDisruptionBudget of serving Deployment {deployment.name!r} allows every pod to be evicted",
                    deployment.urn,
                )
            )
    return findings


def _tracking_commands(resource: Resource) -> list[list[Any]]:
    """The command lines of the tracking server in `resource` (none when it is not the tracking server)."""
    if is_docker_container(resource.props):
        if dig(resource.props, "labels", DOCKER_ROLE_LABEL) != TRACKING_COMPONENT:
            return []
        return [items(resource.props.get("command"))]
    if dig(resource.props, "metadata", "labels", COMPONENT_LABEL) != TRACKING_COMPONENT:
        return []
    spec = pod_spec(resource.type, resource.props)
    if spec is None:
        return []
    return [items(c.get("command")) + items(c.get("args")) for _, c in containers(spec)]


def _runs_basic_auth(command: list[Any]) -> bool:
    return any(tuple(command[i : i + 2]) == AUTH_APP for i in range(len(command) - 1))


def tracking_auth_findings(resources: Sequence[Resource]) -> list[Finding]:
    """Production: the tracking server requires a login (MLflow's basic-auth app, `mlops:tracking.auth`), since
    whoever can write its registry decides what the serving cluster loads."""
    findings = []
    for resource in resources:
        for command in _tracking_commands(resource):
            if not _runs_basic_auth(command):
                findings.append(
                    Finding(
                        f"tracking server {resource.name!r} runs without authentication: a production stack needs "
                        "mlops:tracking.auth: true (MLflow's basic-auth app)",
                        resource.urn,
                    )
                )
    return findings
