"""The Docker Engine client and the diff every docker dynamic provider shares.

The pulumi-docker plugin cannot be installed everywhere this platform must come up, so the docker
target manages its network, volumes, containers and images itself, one module per resource kind. Every
resource's inputs carry `kind` so that policies, which only see the generic dynamic type token, can tell
them apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi.dynamic import DiffResult

PROVIDER_KEY = "__provider"
NS = 1_000_000_000


def client() -> Any:
    import docker

    # Pushing a gigabyte of layers to a registry on a busy 2-core host can stall one read for minutes.
    return docker.from_env(timeout=900)


def not_found() -> type[Exception]:
    import docker.errors

    return docker.errors.NotFound


def plain(props: Mapping[str, Any]) -> dict[str, Any]:
    """Properties without the serialized provider Pulumi adds."""
    return {k: v for k, v in props.items() if k != PROVIDER_KEY}


def diff(
    olds: Mapping[str, Any], news: Mapping[str, Any], keys: Sequence[str], in_place: Sequence[str] = ()
) -> DiffResult:
    changed = [k for k in keys if olds.get(k) != news.get(k)]
    replaces = [k for k in changed if k not in in_place]
    return DiffResult(
        changes=bool(changed),
        replaces=replaces,
        stables=[k for k in keys if k not in changed],
        delete_before_replace=False,
    )
