"""`docker:Network`: the stack's user-defined bridge network.

Inputs: name, labels{str: str}. Outputs add: network_id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from infra.providers.docker.engine import client, diff, not_found, plain

log = logging.getLogger(__name__)


class NetworkProvider(ResourceProvider):
    KEYS = ("kind", "name", "labels")

    def create(self, props: dict[str, Any]) -> CreateResult:
        docker_client = client()
        name = props["name"]
        existing = [n for n in docker_client.networks.list(names=[name]) if n.name == name]
        if existing and (existing[0].attrs.get("Labels") or {}) == props["labels"]:
            # Ours, left by a killed `up` or a refresh that lost it: adopted, containers may be attached.
            network = existing[0]
        elif existing:
            raise RuntimeError(
                f"a network named {name} exists and is not this stack's (labels {existing[0].attrs.get('Labels')}): "
                "remove it (docker network rm), then run `up` again"
            )
        else:
            network = docker_client.networks.create(name, driver="bridge", labels=props["labels"], check_duplicate=True)
        return CreateResult(network.id, {**plain(props), "network_id": network.id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff(olds, news, self.KEYS)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            network = client().networks.get(id_)
        except not_found():
            log.info("network %s is gone", props.get("name") or id_)
            return ReadResult("", {})
        return ReadResult(id_, {**plain(props), "name": network.name, "labels": network.attrs.get("Labels") or {}})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            client().networks.get(id_).remove()
        except not_found():
            log.info("network %s was already gone", props.get("name"))


class Network(Resource, module="docker", name="Network"):
    network_id: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            NetworkProvider(),
            resource_name,
            {"kind": "docker:Network", "name": name, "labels": dict(labels), "network_id": None},
            opts,
        )
