"""What the Docker engine holds for one stack (by our labels), and its purge."""

from __future__ import annotations

from contract import label_filters


def docker_objects(stack: str) -> dict[str, list[str]]:
    """Names of every container, network, image and volume labelled with `stack`."""
    import docker

    client = docker.from_env()
    filters = label_filters(stack)
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=filters)],
        "networks": [n.name for n in client.networks.list(filters=filters)],
        "images": [t for i in client.images.list(filters=filters) for t in i.tags],
        "volumes": [v.name for v in client.volumes.list(filters=filters)],
    }


def purge(stack: str) -> None:
    """Remove everything labelled with `stack`, volumes included (what `destroy` deliberately keeps)."""
    from mlops.leftovers import purge as purge_labelled

    purge_labelled(stack)
