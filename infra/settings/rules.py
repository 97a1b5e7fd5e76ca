"""Rules between keys, checked once every key is valid on its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.settings.errors import Problem, config_key

if TYPE_CHECKING:
    from infra.settings.stack import Settings


def cross_key_problems(settings: Settings) -> list[Problem]:
    found = _docker_ports(settings) if settings.target == "docker" else []
    ks = settings.kubernetes
    if ks is None:
        return found
    if settings.tracking.backend == "sqlite" and ks.tracking.replicas != 1:
        found.append(
            Problem(
                config_key("kubernetes.tracking.replicas"),
                f"= {ks.tracking.replicas} is not allowed with tracking.backend sqlite",
                "1 (one writer on the SQLite volume), or mlops:tracking.backend: postgres",
            )
        )
    if ks.training.namespace == ks.namespace:
        found.append(
            Problem(
                config_key("kubernetes.training.namespace"),
                f"= {ks.namespace!r} is the platform namespace",
                "a namespace of its own, so the quota bounds training jobs only",
            )
        )
    scaling, replicas = ks.serving.autoscaling, settings.serving.replicas
    if scaling.enabled and scaling.max_replicas < replicas:
        found.append(
            Problem(
                config_key("kubernetes.serving.autoscaling.maxReplicas"),
                f"= {scaling.max_replicas} is below mlops:serving.replicas ({replicas})",
                f"an integer from {replicas} to 256",
            )
        )
    return found


def _docker_ports(settings: Settings) -> list[Problem]:
    """Every port the docker target publishes on the host belongs to one component."""
    ports = {
        "registry.port": settings.registry.port,
        "tracking.port": settings.tracking.port,
        "serving.port": settings.serving.port,
    }
    seen: dict[int, str] = {}
    found = []
    for key, number in ports.items():
        if number in seen:
            found.append(
                Problem(
                    config_key(key),
                    f"= {number} is already used by {config_key(seen[number])}",
                    "a port no other component of the stack publishes",
                )
            )
        else:
            seen[number] = key
    return found
