"""What every guardrail reads: the resource slice, findings, and safe access into engine property dicts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str | bytes) else []


def number_text(value: Any) -> str:
    """Ports arrive as floats from the engine; show 8080, not 8080.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def is_docker_container(props: Mapping[str, Any]) -> bool:
    return props.get("kind") == DOCKER_CONTAINER


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a Kubernetes workload, or None for anything else."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    spec = dig(props, *path)
    return spec if isinstance(spec, Mapping) else {}


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, container) for every container and init container of a pod spec."""
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(items(spec.get(kind))):
            if isinstance(container, Mapping):
                yield f"{kind}[{index}] {container.get('name', '?')!r}", container
