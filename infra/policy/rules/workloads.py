"""Per-resource guardrails: ports on loopback, pinned images, resource limits, non-root containers."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from infra.policy.rules.resources import containers, dig, is_docker_container, items, mapping, number_text, pod_spec


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


def port_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Published ports of a docker container that are not bound to a loopback address."""
    if not is_docker_container(props):
        return []
    problems = []
    for port in items(props.get("ports")):
        if not isinstance(port, Mapping):
            continue
        host_ip = port.get("host_ip")
        external = number_text(port.get("external", port.get("internal", "?")))
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
        limits = dig(container, "resources", "limits")
        for kind in ("cpu", "memory"):
            if not _has_quantity(dig(limits, kind)):
                problems.append(f"{label} has no {kind} limit")
    return problems


def _is_root_user(user: Any) -> bool:
    name = str(user).split(":", 1)[0].strip()
    return name in ("", "root", "0")


VOLUME_OWNER = "volume-owner"
VOLUME_OWNER_CAPABILITIES = {"CHOWN", "FOWNER"}


def _volume_owner(container: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """The one root container accepted: the init container `volume-owner` (infra.components.kubernetes.
    volume_owner) that runs `chown` on a data volume with CHOWN/FOWNER only, no escalation, read-only root."""
    caps = mapping(context.get("capabilities"))
    added = {str(c) for c in items(caps.get("add"))}
    command = [str(part) for part in items(container.get("command"))]
    return (
        container.get("name") == VOLUME_OWNER
        and context.get("allowPrivilegeEscalation") is False
        and context.get("readOnlyRootFilesystem") is True
        and [str(c) for c in items(caps.get("drop"))] == ["ALL"]
        and added <= VOLUME_OWNER_CAPABILITIES
        and command[:1] == ["chown"]
    )


def root_problems(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Containers that may run as root.

    Kubernetes: the container's securityContext overrides the pod's; a container is accepted when the
    effective `runAsUser` is non-zero, or `runAsNonRoot` is true and `runAsUser` is not 0. The init
    container that gives a data volume to the pod's user (`_volume_owner`) is the one exception.
    """
    if is_docker_container(props):
        user = props.get("user")
        if user is None or _is_root_user(user):
            return [f"container runs as {user or 'the image default user'!s}, not as a non-root user"]
        return []
    spec = pod_spec(resource_type, props)
    if spec is None:
        return []
    pod_context = mapping(spec.get("securityContext"))
    problems = []
    init_names = {c.get("name") for c in items(spec.get("initContainers")) if isinstance(c, Mapping)}
    for label, container in containers(spec):
        context = mapping(container.get("securityContext"))
        if container.get("name") in init_names and _volume_owner(container, context):
            continue
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if user is not None and str(user).strip() == "0":
            problems.append(f"{label} runs as user 0")
        elif user is None and non_root is not True:
            problems.append(f"{label} sets neither runAsNonRoot: true nor a non-zero runAsUser")
    return problems


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
