"""ContainerRegistry: the environment's image registry, holding every platform image."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from infra.components import implementation
from infra.settings import Settings


@dataclass
class ContainerRegistryArgs:
    settings: Settings
    password: pulumi.Input[str]
    """The registry password (a secret): from config, or generated for stacks that generate secrets."""
    network: pulumi.Input[str] | None = None
    """docker: the user-defined network the registry joins; kubernetes: unused."""


@dataclass
class ContainerRegistryOutputs:
    address: pulumi.Output[str]
    """host:port where images are pushed from this machine (docker: `127.0.0.1:<port>`)."""
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    """A Pulumi secret."""
    images: pulumi.Output[Mapping[str, str]]
    """role -> pushed, content-tagged image reference, for every role in `infra.images.roles(settings)`."""


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
        out: ContainerRegistryOutputs = implementation(args.settings.target, "registry").create(self, args)
        self.address, self.username, self.password, self.images = (out.address, out.username, out.password, out.images)
        self.register_outputs({"address": self.address, "username": self.username, "images": self.images})
