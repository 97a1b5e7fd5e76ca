"""Secret keys of the `mlops` namespace: which a stack needs, and how each one is set.

A team sets them once per stack (`pulumi config set --secret mlops:<key> VALUE --stack <stack>`); they
are never part of the plain settings objects. A stack that needs several and sets none hears about all
of them at once, each with the command that sets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pydantic import BaseModel, ConfigDict

from contract import CONFIG_NAMESPACE
from infra.settings.errors import Problem, config_key


@dataclass(frozen=True)
class Need:
    """What decides whether a stack needs the secrets: plain values read before validation."""

    target: object
    generate: bool
    backend: object
    database: object
    announces: bool = False
    """The scheduled monitor retrains and announces its promotion requests on a webhook."""


class Secrets(BaseModel):
    """The secrets a stack set, as Pulumi secrets (None: not set, or generated into state)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    registry_password: pulumi.Output[str] | None = None
    postgres_password: pulumi.Output[str] | None = None
    artifacts_access_key_id: pulumi.Output[str] | None = None
    artifacts_secret_access_key: pulumi.Output[str] | None = None
    tracking_database_url: pulumi.Output[str] | None = None
    tracking_password: pulumi.Output[str] | None = None
    webhook_secret: pulumi.Output[str] | None = None
    """`mlops:monitoring.webhookSecret`: signs what the scheduled monitor announces on the stack's webhook."""


# Config key -> field of `Secrets`.
SECRET_KEYS: Mapping[str, str] = {
    "registryPassword": "registry_password",
    "postgresPassword": "postgres_password",
    "artifactsAccessKeyId": "artifacts_access_key_id",
    "artifactsSecretAccessKey": "artifacts_secret_access_key",
    "trackingDatabaseUrl": "tracking_database_url",
    "trackingPassword": "tracking_password",
}
WEBHOOK_SECRET_FIELD = "webhookSecret"
WEBHOOK_SECRET_KEY = f"monitoring.{WEBHOOK_SECRET_FIELD}"
"""A secret inside the `monitoring` object (`--path`): Pulumi hands the program the object with it decrypted and
marks the whole `mlops:monitoring` key secret; `infra.settings.config` takes it out as a secret of its own."""
GENERATED = ("registryPassword", "postgresPassword")
"""The secrets `mlops:generateSecrets: true` creates in state when they are not set. (`trackingPassword`
is never required: when it is not set, every stack with `tracking.auth` generates it into state, since
nothing outside the stack needs to know it beforehand: `mlops` reads it from the stack's outputs.)"""


def required(need: Need) -> dict[str, str]:
    """Secret key -> why this stack needs it."""
    keys = {"registryPassword": "the registry's password"}
    if need.backend == "postgres":
        keys["postgresPassword"] = "the tracking server's Postgres"
    if need.target == "kubernetes":
        keys["artifactsAccessKeyId"] = "S3 credentials of the artifact store"
        keys["artifactsSecretAccessKey"] = "S3 credentials of the artifact store"
        if need.backend == "postgres" and need.database == "external":
            keys["trackingDatabaseUrl"] = "the tracking database is external"
        if need.announces:
            keys[WEBHOOK_SECRET_KEY] = "the scheduled monitor signs what it posts to promotionRequest.webhookUrl"
    return keys


def check(
    stack: str, need: Need, given: Mapping[str, pulumi.Output[str] | None], plaintext: tuple[str, ...]
) -> list[Problem]:
    """Every secret set in plain text, and every one the stack needs but did not set."""
    found = [
        Problem(config_key(key), "is set in plain text", f"a secret: {set_command(stack, key)}") for key in plaintext
    ]
    for key, why in required(need).items():
        if given.get(key) is not None or (need.generate and key in GENERATED):
            continue
        command = set_command(stack, key)
        generate = f", or {CONFIG_NAMESPACE}:generateSecrets: true to generate it" if key in GENERATED else ""
        found.append(Problem(config_key(key), f"is required ({why}) but not set", f"a secret: {command}{generate}"))
    return found


def set_command(stack: str, key: str) -> str:
    path = "--path " if "." in key else ""
    return f"pulumi config set --secret {path}{CONFIG_NAMESPACE}:{key} VALUE --stack {stack}"


def secrets(given: Mapping[str, pulumi.Output[str] | None]) -> Secrets:
    return Secrets(
        **{field: given.get(key) for key, field in SECRET_KEYS.items()}, webhook_secret=given.get(WEBHOOK_SECRET_KEY)
    )
