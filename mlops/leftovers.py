"""What an environment left on the Docker engine, found by the labels every resource of ours carries."""

from __future__ import annotations

from dataclasses import dataclass

from contract import label_filters


@dataclass(frozen=True)
class Leftovers:
    containers: list[str]
    networks: list[str]
    images: list[str]
    volumes: list[str]

    def others(self) -> dict[str, list[str]]:
        """Everything but volumes, which `down` keeps on purpose."""
        found = {"containers": self.containers, "networks": self.networks, "images": self.images}
        return {kind: names for kind, names in found.items() if names}


def _client():
    import docker

    return docker.from_env()


def leftovers(project: str, stack: str) -> Leftovers:
    """Labelled objects of this project's stack; empty lists when no Docker engine answers (e.g. kubernetes)."""
    import docker.errors

    try:
        client = _client()
        client.ping()
    except docker.errors.DockerException:
        return Leftovers([], [], [], [])
    filters = label_filters(stack, project)
    return Leftovers(
        containers=[c.name for c in client.containers.list(all=True, filters=filters)],
        networks=[n.name for n in client.networks.list(filters=filters)],
        images=[t for i in client.images.list(filters=filters) for t in (i.tags or [i.short_id])],
        volumes=[v.name for v in client.volumes.list(filters=filters)],
    )


def remove_volumes(project: str, stack: str) -> list[str]:
    """Delete the stack's volumes (its registered models and pushed images go with them)."""
    client = _client()
    removed = []
    for volume in client.volumes.list(filters=label_filters(stack, project)):
        volume.remove(force=True)
        removed.append(volume.name)
    return removed


def purge(stack: str, project: str | None = None) -> None:
    """Remove every container, network, volume and image tag labelled with `stack` (and `project` if given).

    What `destroy` and `down` deliberately keep goes too: for throwaway stacks (tests, benchmarks).
    """
    client = _client()
    filters = label_filters(stack, project)
    for container in client.containers.list(all=True, filters=filters):
        container.remove(force=True)
    for network in client.networks.list(filters=filters):
        network.remove()
    for volume in client.volumes.list(filters=filters):
        volume.remove(force=True)
    for image in client.images.list(filters=filters):
        for tag in image.tags:
            client.images.remove(tag, force=True)
