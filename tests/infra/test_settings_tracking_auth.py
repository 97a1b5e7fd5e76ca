"""`mlops:tracking.auth` and `mlops:trackingPassword`: on by default, off only where a stack says so (`local`),
validated like every other key."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from infra import settings
from infra.settings import SettingsError
from tests.support.pulumi_mocks import stack_config


def parse(stack: str, raw: dict[str, Any], plaintext: tuple[str, ...] = (), **secrets: str) -> settings.Settings:
    given = {key: pulumi.Output.secret(value) for key, value in secrets.items()}
    return settings.parse(stack, "mlops-platform", raw, given, plaintext)


@pytest.mark.parametrize(("stack", "auth"), [("local", False), ("local-prod", True), ("staging", True), ("prod", True)])
def test_every_stack_but_local_requires_a_login(stack: str, auth: bool) -> None:
    secrets = {
        key: "x" for key in ("registryPassword", "postgresPassword", "artifactsAccessKeyId", "artifactsSecretAccessKey")
    }
    assert parse(stack, stack_config(stack), **secrets).tracking.auth is auth


def test_without_the_key_the_login_is_on() -> None:
    raw = stack_config("local")
    raw["tracking"] = {k: v for k, v in raw["tracking"].items() if k != "auth"}
    assert parse("local", raw).tracking.auth is True


@pytest.mark.parametrize("value", ["no", 0, 1, "true"])
def test_auth_takes_only_a_boolean(value: object) -> None:
    raw = stack_config("local")
    raw["tracking"] = {**raw["tracking"], "auth": value}
    with pytest.raises(SettingsError, match=r"mlops:tracking\.auth.*true \| false"):
        parse("local", raw)


def test_a_misspelled_key_names_auth() -> None:
    raw = stack_config("local")
    raw["tracking"] = {**raw["tracking"], "auht": True}
    with pytest.raises(SettingsError, match=r"mlops:tracking\.auht.*auth"):
        parse("local", raw)


def test_the_password_is_optional_a_secret_and_never_plain_text() -> None:
    assert parse("local", stack_config("local")).secrets.tracking_password is None
    assert parse("local", stack_config("local"), trackingPassword="p").secrets.tracking_password is not None
    with pytest.raises(SettingsError, match=r"mlops:trackingPassword.*plain text"):
        parse("local", stack_config("local"), ("trackingPassword",), trackingPassword="p")
