"""`docker:Volume`: a named volume, kept on `destroy` and adopted by the next `up`.

Inputs: name, labels{str: str}. Outputs add: volume_name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from infra.providers.docker.engine import client, diff, not_found, plain

log = logging.getLogger(__name__)


class VolumeProvider(ResourceProvider):
    KEYS = ("kind", "name", "labels")

    def create(self, props: dict[str, Any]) -> CreateResult:
        docker_client = client()
        try:
            # A volume kept by an earlier `destroy` is adopted: that is how its data outlives the stack.
            volume = docker_client.volumes.get(props["name"])
        except not_found():
            volume = docker_client.volumes.create(props["name"], labels=props["labels"])
        return CreateResult(volume.name, {**plain(props), "volume_name": volume.name})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff(olds, news, self.KEYS)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            volume = client().volumes.get(id_)
        except not_found():
            log.info("volume %s is gone", id_)
            return ReadResult("", {})
        return ReadResult(id_, {**plain(props), "name": volume.name, "labels": volume.attrs.get("Labels") or {}})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            client().volumes.get(id_).remove()
        except not_found():
            log.info("volume %s was already gone", id_)


class Volume(Resource, module="docker", name="Volume"):
    volume_name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # Volumes hold the platform's data; `destroy` keeps them and a purge by label removes them.
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True))
        super().__init__(
            VolumeProvider(),
            resource_name,
            {"kind": "docker:Volume", "name": name, "labels": dict(labels), "volume_name": None},
            opts,
        )
