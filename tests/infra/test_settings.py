"""Settings: every bad value names the stack, the key and what is allowed."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from conftest import stack_config

from infra import settings
from infra.settings import SettingsError


def parse(
    raw: dict[str, Any], secrets: dict[str, pulumi.Output[str] | None] | None = None, plaintext: tuple[str, ...] = ()
) -> settings.Settings:
    return settings.parse("local", "mlops-platform", raw, secrets or {}, plaintext)


def local(**changes: Any) -> dict[str, Any]:
    raw = stack_config("local")
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            raw[section] = {**raw.get(section, {}), key: value}
        else:
            raw[section] = value
    return raw


def test_local_stack_parses_into_its_settings() -> None:
    s = parse(stack_config("local"))
    assert (s.target, s.production, s.generate_secrets) == ("docker", False, True)
    assert (s.registry.port, s.tracking.port, s.serving.port) == (5501, 5500, 5580)
    assert s.serving.replicas == 2 and s.serving.model_uri == "models:/breast-cancer@champion"
    assert s.training.limits == settings.Limits(cpus=2.0, memory_mb=4096)
    assert s.tracking.public_url == "http://127.0.0.1:5500"
    assert s.serving.prediction_log.dir.parts[-3:] == ("mlops-platform", "local", "predictions")
    assert s.labels == {"mlops.stack": "local", "mlops.project": "mlops-platform"}


def test_settings_are_frozen() -> None:
    s = parse(stack_config("local"))
    with pytest.raises(AttributeError):
        s.serving.replicas = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "key", "allowed"),
    [
        (local(target="swarm"), "mlops:target", "docker | kubernetes"),
        (local(serving__replicas=0), "mlops:serving.replicas", "an integer from 1 to 64"),
        (local(serving__replicas="two"), "mlops:serving.replicas", "an integer from 1 to 64"),
        (local(tracking__port=5501), "mlops:tracking.port", "a port no other component of the stack publishes"),
        (local(serving__port=5500), "mlops:serving.port", "a port no other component of the stack publishes"),
        (local(tracking__backend="mysql"), "mlops:tracking.backend", "sqlite | postgres"),
        (local(serving__modelUri="breast-cancer:latest"), "mlops:serving.modelUri", "models:/NAME@ALIAS"),
        (local(serving__predictionLog={"format": "csv"}), "mlops:serving.predictionLog.format", "jsonl | parquet"),
        (local(serving__predictionLog={"dir": "relative/dir"}), "mlops:serving.predictionLog.dir", "absolute"),
        (local(serving__cpus=0), "mlops:serving.cpus", "a number from 0.1"),
        (local(generateSecrets="yes"), "mlops:generateSecrets", "true | false"),
        (local(registry=[5501]), "mlops:registry", "an object of settings"),
    ],
)
def test_bad_value_names_stack_key_and_what_is_allowed(raw: dict[str, Any], key: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(raw)
    message = str(caught.value)
    assert "stack 'local'" in message and f"'{key}'" in message and allowed in message, message
    assert caught.value.key == key


def test_missing_required_secret_names_the_command_that_sets_it() -> None:
    with pytest.raises(SettingsError) as caught:
        parse(local(generateSecrets=False))
    message = str(caught.value)
    assert "'mlops:registryPassword' is required" in message
    assert "pulumi config set --secret mlops:registryPassword" in message and "--stack local" in message


def test_postgres_backend_needs_its_password_unless_generated() -> None:
    with pytest.raises(SettingsError, match="mlops:postgresPassword"):
        parse(
            local(generateSecrets=False, tracking__backend="postgres"), {"registryPassword": pulumi.Output.secret("r")}
        )
    s = parse(local(tracking__backend="postgres"))
    assert s.tracking.backend == "postgres" and s.tracking.postgres_password is None


def test_secret_set_in_plain_text_is_refused() -> None:
    with pytest.raises(SettingsError, match="is set in plain text"):
        parse(local(), {"registryPassword": pulumi.Output.secret("r")}, plaintext=("registryPassword",))


def test_model_reference_forms() -> None:
    assert settings.MODEL_URI.match("models:/breast-cancer@champion")["alias"] == "champion"  # type: ignore[index]
    assert settings.MODEL_URI.match("models:/breast-cancer/12")["version"] == "12"  # type: ignore[index]
    assert settings.MODEL_URI.match("models:/breast-cancer") is None
    assert parse(local(serving__modelUri="")).serving.model_uri == ""
