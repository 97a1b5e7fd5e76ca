"""The guardrails as plain functions over resource inputs.

They take the property dicts the Pulumi engine hands to a policy pack (camelCase Kubernetes fields, the
docker provider's snake_case inputs) and return problem messages, so the policy pack, the mocks tests
and the rendered manifests are all checked by the same code.

What the checks recognise:

- docker containers: any resource whose `kind` input is `docker:Container` (our dynamic provider);
- Kubernetes workloads: Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and Pods;
- serving workloads: Deployments labelled `app.kubernetes.io/component: serving`, and docker containers
  whose `labels` carry `mlops.role: serving`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DOCKER_CONTAINER = "docker:Container"
COMPONENT_LABEL = "app.kubernetes.io/component"
SERVING_COMPONENT = "serving"
DOCKER_ROLE_LABEL = "mlops.role"
MIN_PRODUCTION_REPLICAS = 2

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA_TYPES = ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler")
PDB_TYPES = ("kubernetes:policy/v1:PodDisruptionBudget",)

# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    DEPLOYMENT: ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}


@dataclass(frozen=True)
class Resource:
    """The slice of a resource the stack-wide checks need."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""


@dataclass(frozen=True)
class Finding:
    """One violation, attached to a resource when there is one to blame."""

    message: str
    urn: str = field(default="")


def _dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str | bytes) else []


def _number_text(value: Any) -> str:
    """Ports arrive as floats from the engine; show 8080, not 8080.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def image_problem(image: Any) -> str | None:
    """Why an image reference is not pinned, or None when it is (a tag other than `latest`, or a digest)."""
    if not isinstance(image, str) or not image.strip():
        return "has no image reference"
    if "@" in image:
        digest = image.split("@", 1)[1]
        if digest.startswith("sha256:") and len(digest) == len("sha256:") + 64:
            return None
        return f"image {image!r} has a malformed digest"
    # The last path segment holds the tag; a colon before it belongs to a registry port.
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag, which Docker and Kubernetes resolve to :latest"
    tag = last.split(":", 1)[1]
    if tag in ("", "latest"):
        return f"image {image!r} uses the mutable tag :latest"
    return None


def is_docker_container(props: Mapping[str, Any]) -> bool:
    return props.get("kind") == DOCKER_CONTAINER


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a Kubernetes workload, or None for anything else."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    spec = _dig(props, *path)
    return spec if isinstance(spec, Mapping) else {}


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, container) for every container and init container of a pod spec."""
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(_items(spec.get(kind))):
            if isinstance(container, Mapping):
                yield f"{kind}[{index}] {container.get('name', '?')!r}", container


def port_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Published ports of a docker container that are not bound to a loopback address."""
    if not is_docker_container(props):
        return []
    problems = []
    for port in _items(props.get("ports")):
        if not isinstance(port, Mapping):
            continue
        host_ip = port.get("host_ip")
        external = _number_text(port.get("external", port.get("internal", "?")))
        if not host_ip:
            problems.append(f"port {external} has no host_ip, so Docker publishes it on 0.0.0.0")
            continue
        try:
            loopback = ipaddress.ip_address(str(host_ip)).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            problems.append(f"port {external} is published on {host_ip}, not on a loopback address")
    return problems


def image_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if is_docker_container(props):
        problem = image_problem(props.get("image"))
        return [f"container {problem}"] if problem else []
    spec = pod_spec(resource_type, props)
    if spec is None:
        return []
    problems = []
    for label, container in containers(spec):
        problem = image_problem(container.get("image"))
        if problem:
            problems.append(f"{label} {problem}")
    return problems


def _has_quantity(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value > 0
    return isinstance(value, str) and bool(value.strip()) and value.strip() not in ("0", "0.0")


def limit_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Workloads without both a CPU and a memory limit on every container."""
    if is_docker_container(props):
        limits = props.get("limits")
        if not isinstance(limits, Mapping):
            return ["container has no limits"]
        missing = [
            kind
            for kind in ("cpu", "memory")
            if not any(kind in str(key).lower() and _has_quantity(value) for key, value in limits.items())
        ]
        return [f"container has no {kind} limit" for kind in missing]
    spec = pod_spec(resource_type, props)
    if spec is None:
        return []
    problems = []
    for label, container in containers(spec):
        limits = _dig(container, "resources", "limits")
        for kind in ("cpu", "memory"):
            if not _has_quantity(_dig(limits, kind)):
                problems.append(f"{label} has no {kind} limit")
    return problems


def _is_root_user(user: Any) -> bool:
    name = str(user).split(":", 1)[0].strip()
    return name in ("", "root", "0")


def root_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Containers that may run as root.

    Kubernetes: the container's securityContext overrides the pod's; a container is accepted when the
    effective `runAsUser` is non-zero, or `runAsNonRoot` is true and `runAsUser` is not 0.
    """
    if is_docker_container(props):
        user = props.get("user")
        if user is None or _is_root_user(user):
            return [f"container runs as {user or 'the image default user'!s}, not as a non-root user"]
        return []
    spec = pod_spec(resource_type, props)
    if spec is None:
        return []
    pod_context = _mapping(spec.get("securityContext"))
    problems = []
    for label, container in containers(spec):
        context = _mapping(container.get("securityContext"))
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if user is not None and str(user).strip() == "0":
            problems.append(f"{label} runs as user 0")
        elif user is None and non_root is not True:
            problems.append(f"{label} sets neither runAsNonRoot: true nor a non-zero runAsUser")
    return problems


def is_serving(resource: Resource) -> bool:
    if resource.type == DEPLOYMENT:
        return _dig(resource.props, "metadata", "labels", COMPONENT_LABEL) == SERVING_COMPONENT
    return (
        is_docker_container(resource.props) and _dig(resource.props, "labels", DOCKER_ROLE_LABEL) == SERVING_COMPONENT
    )


def _name_and_namespace(props: Mapping[str, Any]) -> tuple[Any, Any]:
    return _dig(props, "metadata", "name"), _dig(props, "metadata", "namespace")


def _minimum_replicas(deployment: Resource, autoscalers: Sequence[Resource]) -> tuple[int, str]:
    """The fewest pods the Deployment can run, and what decides it."""
    name, namespace = _name_and_namespace(deployment.props)
    for hpa in autoscalers:
        target = _dig(hpa.props, "spec", "scaleTargetRef") or {}
        hpa_name, hpa_namespace = _name_and_namespace(hpa.props)
        if target.get("kind") == "Deployment" and target.get("name") == name and hpa_namespace == namespace:
            minimum = _dig(hpa.props, "spec", "minReplicas")
            return (int(minimum) if isinstance(minimum, int | float) else 1), f"HorizontalPodAutoscaler {hpa_name!r}"
    replicas = _dig(deployment.props, "spec", "replicas")
    return (int(replicas) if isinstance(replicas, int | float) else 1), "spec.replicas"


def serving_replica_findings(resources: Sequence[Resource]) -> list[Finding]:
    """Production: serving must keep at least two replicas, so one can drain while another answers.

    A stack that serves nothing yet (no model promoted to it) has nothing to keep up, and must still
    come up, so it passes.
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
    match = _dig(selector, "matchLabels")
    if not isinstance(match, Mapping) or not match or not isinstance(labels, Mapping):
        return False
    return all(labels.get(key) == value for key, value in match.items())


def _budget_protects(pdb: Resource) -> bool:
    spec = _dig(pdb.props, "spec") or {}
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
        pod_labels = _dig(deployment.props, "spec", "template", "metadata", "labels")
        covering = [
            pdb
            for pdb in budgets
            if _name_and_namespace(pdb.props)[1] == namespace
            and _selects(_dig(pdb.props, "spec", "selector"), pod_labels)
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


RESOURCE_CHECKS: Mapping[str, Callable[[str, Mapping[str, Any]], list[str]]] = {
    "docker-ports-on-loopback": port_problems,
    "images-pinned": image_problems,
    "workload-resource-limits": limit_problems,
    "containers-non-root": root_problems,
}


def resource_findings(resource_type: str, props: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every per-resource check's problems, keyed by policy name."""
    results: dict[str, list[str]] = {}
    for name, check in RESOURCE_CHECKS.items():
        problems = check(resource_type, props)
        if problems:
            results[name] = problems
    return results
