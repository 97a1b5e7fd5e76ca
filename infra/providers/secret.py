"""A random value created once and kept in state as a secret.

Stacks that generate their own credentials (`mlops:generateSecrets: true`) need a random value that
stays the same from one `up` to the next; no pulumi-random plugin is available everywhere, so this is
a dynamic resource. Inputs: kind `random:Secret`, length. Outputs: value (secret).
"""

from __future__ import annotations

import secrets
import string
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

_ALPHABET = string.ascii_letters + string.digits


class RandomSecretProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(int(props["length"])))
        return CreateResult(secrets.token_hex(8), {"kind": props["kind"], "length": props["length"], "value": value})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("kind", "length") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, stables=[], delete_before_replace=False)


class RandomSecret(Resource, module="random", name="Secret"):
    value: pulumi.Output[str]

    def __init__(self, resource_name: str, *, length: int = 32, opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["value"]))
        super().__init__(
            RandomSecretProvider(), resource_name, {"kind": "random:Secret", "length": length, "value": None}, opts
        )
