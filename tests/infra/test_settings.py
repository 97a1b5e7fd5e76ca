"""Settings: every bad value names the stack, the key and what is allowed; every problem at once."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pydantic import ValidationError

from infra import settings
from infra.settings import SettingsError
from tests.support.pulumi_mocks import run_program, stack_config


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
    with pytest.raises(ValidationError, match="frozen"):
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
    assert s.tracking.backend == "postgres" and s.secrets.postgres_password is None


def test_secret_set_in_plain_text_is_refused() -> None:
    with pytest.raises(SettingsError, match="is set in plain text"):
        parse(local(), {"registryPassword": pulumi.Output.secret("r")}, plaintext=("registryPassword",))


def test_model_reference_forms() -> None:
    assert parse(local(serving__modelUri="models:/breast-cancer@champion")).serving.model_uri.endswith("@champion")
    assert parse(local(serving__modelUri="models:/breast-cancer/12")).serving.model_uri.endswith("/12")
    assert parse(local(serving__modelUri="")).serving.model_uri == ""
    with pytest.raises(SettingsError, match=r"mlops:serving\.modelUri"):
        parse(local(serving__modelUri="models:/breast-cancer"))


@pytest.mark.parametrize(
    ("raw", "key", "closest"),
    [
        (local(servng={"replicas": 2}), "mlops:servng", "mlops:serving"),
        (local(serving__replica=2), "mlops:serving.replica", "mlops:serving.replicas"),
        (local(serving__predictionLog={"formt": "jsonl"}), "mlops:serving.predictionLog.formt", "format"),
        (local(tracking__memoryMB=512), "mlops:tracking.memoryMB", "mlops:tracking.memoryMb"),
    ],
)
def test_unknown_key_fails_naming_it_and_the_closest_known_key(raw: dict[str, Any], key: str, closest: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(raw)
    message = str(caught.value)
    assert caught.value.key == key and "is not a known key" in message
    assert f"did you mean '{closest}" in message or f"did you mean 'mlops:serving.predictionLog.{closest}'" in message


@pytest.mark.parametrize(
    ("raw", "key", "allowed"),
    [
        (local(serving__replicas=65), "mlops:serving.replicas", "an integer from 1 to 64"),
        (local(serving__replicas=True), "mlops:serving.replicas", "an integer from 1 to 64"),
        (local(serving__replicas=2.0), "mlops:serving.replicas", "an integer from 1 to 64"),
        (local(serving__port=80), "mlops:serving.port", "an integer from 1024 to 65535"),
        (local(registry__port=65536), "mlops:registry.port", "an integer from 1024 to 65535"),
        (local(tracking__port=True), "mlops:tracking.port", "an integer from 1024 to 65535"),
        (local(training__cpus=True), "mlops:training.cpus", "a number from 0.1 to 64.0"),
        (local(tracking__memoryMb=300000), "mlops:tracking.memoryMb", "an integer from 64 to 262144"),
        (local(serving__predictionLog={"sample": 1.5}), "mlops:serving.predictionLog.sample", "0.0 to 1.0"),
        (local(production=1), "mlops:production", "true | false"),
        (local(production="true"), "mlops:production", "true | false"),
        (local(tracking__workers="2"), "mlops:tracking.workers", "an integer from 1 to 32"),
    ],
)
def test_every_bound_and_type_is_checked(raw: dict[str, Any], key: str, allowed: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(raw)
    assert caught.value.keys == (key,) and allowed in str(caught.value), str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    raw = local(
        servng={},
        serving__replicas=0,
        registry__port=80,
        tracking__backend="mysql",
        generateSecrets=False,
    )
    with pytest.raises(SettingsError) as caught:
        parse(raw)
    message = str(caught.value)
    assert set(caught.value.keys) == {
        "mlops:servng",
        "mlops:serving.replicas",
        "mlops:registry.port",
        "mlops:tracking.backend",
        "mlops:registryPassword",
    }
    assert message.startswith("stack 'local': 5 config problems")


def test_a_stack_without_a_target_is_refused() -> None:
    raw = local()
    del raw["target"]
    with pytest.raises(SettingsError) as caught:
        parse(raw)
    assert caught.value.key == "mlops:target" and "is required" in str(caught.value)


def test_keys_read_by_ml_are_known() -> None:
    s = parse(local(promotion={"mode": "dry_run"}, monitoring={"psiThreshold": 0.2}))
    assert s.target == "docker"
    assert {"promotion", "monitoring"} <= settings.CONFIG_KEYS


@pytest.mark.parametrize("stack", ["local", "local-prod", "dev", "staging", "prod"])
def test_every_stack_file_parses(stack: str) -> None:
    given = {key: pulumi.Output.secret("x") for key in settings.SECRET_KEYS}
    s = settings.parse(stack, "mlops-platform", stack_config(stack), given)
    assert s.stack == stack and (s.kubernetes is not None) == (s.target == "kubernetes")


def test_the_program_reads_every_key_of_the_namespace() -> None:
    """`load()` sees the keys the stack really sets, so a misspelled section fails the program itself."""
    with pytest.raises(SettingsError) as caught:
        run_program("local", {**stack_config("local"), "servng": {"replicas": 2}})
    assert caught.value.key == "mlops:servng" and "did you mean 'mlops:serving'" in str(caught.value)
