"""ContainerRegistry: the environment's image registry, holding every platform image."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from infra.components.targets import TARGETS
from infra.components.types import ContainerRegistryArgs, ContainerRegistryOutputs


class ContainerRegistry(pulumi.ComponentResource):
    """The registry of one environment and the platform images pushed to it.

    Target implementations receive `(component, ContainerRegistryArgs)` and return
    `ContainerRegistryOutputs`. They run the registry (docker: Debian's `docker-registry` in a container
    with htpasswd auth from `username`/`password`, storage on a retained volume, published on
    127.0.0.1 only; kubernetes: in-cluster or an external registry), then build each image of
    `infra.images.specs(settings, ...)` with `infra.providers.docker.Image` (content-tagged, pushed) and
    report the references in `images`.
    """

    address: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    images: pulumi.Output[Mapping[str, str]]

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:registry:ContainerRegistry", name, None, opts)
        out: ContainerRegistryOutputs = TARGETS[args.settings.target].registry(self, args)
        self.address, self.username, self.password, self.images = (out.address, out.username, out.password, out.images)
        self.register_outputs({"address": self.address, "username": self.username, "images": self.images})
