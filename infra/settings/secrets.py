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


class Secrets(BaseModel):
    """The secrets a stack set, as Pulumi secrets (None: not set, or generated into state)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    registry_password: pulumi.Output[str] | None = None
    postgres_password: pulumi.Output[str] | None = None
    artifacts_access_key_id: pulumi.Output[str] | None = None
    artifacts_secret_access_key: pulumi.Output[str] | None = None
    tracking_database_url: pulumi.Output[str] | None = None
    tracking_password: pulumi.Output[str] | None = None


# Config key -> field of `Secrets`.
SECRET_KEYS: Mapping[str, str] = {
    "registryPassword": "registry_password",
    "postgresPassword": "postgres_password",
    "artifactsAccessKeyId": "artifacts_access_key_id",
    "artifactsSecretAccessKey": "artifacts_secret_access_key",
    "trackingDatabaseUrl": "tracking_database_url",
    "trackingPassword": "tracking_password",
}
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
    return keys


def check(
    stack: str, need: Need, given: Mapping[str, pulumi.Output[str] | None], plaintext: tuple[str, ...]
) -> list[Problem]:
    """Every secret set in plain text, and every one the stack needs but did not set."""
    found = [
        Problem(
            config_key(key),
            "is set in plain text",
            f"a secret: pulumi config set --secret {CONFIG_NAMESPACE}:{key} VALUE --stack {stack}",
        )
        for key in plaintext
    ]
    for key, why in required(need).items():
        if given.get(key) is not None or (need.generate and key in GENERATED):
            continue
        command = f"pulumi config set --secret {CONFIG_NAMESPACE}:{key} VALUE --stack {stack}"
        generate = f", or {CONFIG_NAMESPACE}:generateSecrets: true to generate it" if key in GENERATED else ""
        found.append(Problem(config_key(key), f"is required ({why}) but not set", f"a secret: {command}{generate}"))
    return found


def secrets(given: Mapping[str, pulumi.Output[str] | None]) -> Secrets:
    return Secrets(**{field: given.get(key) for key, field in SECRET_KEYS.items()})
