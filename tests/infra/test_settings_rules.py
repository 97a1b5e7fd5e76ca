"""Settings rules pinned one by one: which secrets a stack needs and why, the defaults derived from the
stack's name and other keys, the rules between keys, and the exact words of every problem (they are what a
user reads when `pulumi preview` refuses a stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.settings import SettingsError
from infra.settings.errors import Problem, config_key, unknown_key
from infra.settings.secrets import Need, check, required
from infra.settings.stack import cross_key_problems, derived_defaults, parse
from tests.support.pulumi_mocks import stack_config

REGISTRY = {"registryPassword": "the registry's password"}
S3 = {
    "artifactsAccessKeyId": "S3 credentials of the artifact store",
    "artifactsSecretAccessKey": "S3 credentials of the artifact store",
}


@pytest.mark.parametrize(
    ("need", "keys"),
    [
        (Need("docker", False, "sqlite", "in-cluster"), REGISTRY),
        (
            Need("docker", False, "postgres", "external"),
            {**REGISTRY, "postgresPassword": "the tracking server's Postgres"},
        ),
        (Need("kubernetes", False, "sqlite", "external"), {**REGISTRY, **S3}),
        (
            Need("kubernetes", False, "postgres", "in-cluster"),
            {**REGISTRY, "postgresPassword": "the tracking server's Postgres", **S3},
        ),
        (
            Need("kubernetes", False, "postgres", "external"),
            {
                **REGISTRY,
                "postgresPassword": "the tracking server's Postgres",
                **S3,
                "trackingDatabaseUrl": "the tracking database is external",
            },
        ),
    ],
)
def test_the_secrets_a_stack_needs_and_why(need: Need, keys: dict[str, str]) -> None:
    assert required(need) == keys


def test_a_missing_secret_names_the_command_and_generated_ones_the_alternative() -> None:
    need = Need("kubernetes", False, "postgres", "in-cluster")
    given: dict[str, pulumi.Output[str] | None] = {"artifactsAccessKeyId": pulumi.Output.secret("a")}
    assert check("dev", need, given, ()) == [
        Problem(
            "mlops:registryPassword",
            "is required (the registry's password) but not set",
            "a secret: pulumi config set --secret mlops:registryPassword VALUE --stack dev, "
            "or mlops:generateSecrets: true to generate it",
        ),
        Problem(
            "mlops:postgresPassword",
            "is required (the tracking server's Postgres) but not set",
            "a secret: pulumi config set --secret mlops:postgresPassword VALUE --stack dev, "
            "or mlops:generateSecrets: true to generate it",
        ),
        Problem(
            "mlops:artifactsSecretAccessKey",
            "is required (S3 credentials of the artifact store) but not set",
            "a secret: pulumi config set --secret mlops:artifactsSecretAccessKey VALUE --stack dev",
        ),
    ]
    generated = Need("kubernetes", True, "postgres", "in-cluster")
    assert [p.key for p in check("dev", generated, given, ())] == ["mlops:artifactsSecretAccessKey"]


def test_a_secret_in_plain_text_is_a_problem_naming_the_command() -> None:
    need = Need("docker", True, "sqlite", "in-cluster")
    assert check("prod", need, {}, ("registryPassword",)) == [
        Problem(
            "mlops:registryPassword",
            "is set in plain text",
            "a secret: pulumi config set --secret mlops:registryPassword VALUE --stack prod",
        )
    ]


def test_a_settings_error_names_the_stack_and_every_problem() -> None:
    one = Problem("mlops:a", "is bad", "good")
    two = Problem("mlops:b.c", "= 3 is not allowed", "an integer from 1 to 2")
    error = SettingsError("dev", [one])
    assert str(error) == "stack 'dev': config 'mlops:a' is bad; allowed: good"
    assert (error.stack, error.key, error.allowed, error.keys) == ("dev", "mlops:a", "good", ("mlops:a",))
    error = SettingsError("dev", [one, two])
    assert str(error) == (
        "stack 'dev': 2 config problems:\n"
        "  - config 'mlops:a' is bad; allowed: good\n"
        "  - config 'mlops:b.c' = 3 is not allowed; allowed: an integer from 1 to 2"
    )
    assert error.keys == ("mlops:a", "mlops:b.c")
    with pytest.raises(ValueError, match="at least one problem"):
        SettingsError("dev", [])


def test_an_unknown_key_is_answered_with_the_closest_known_one() -> None:
    assert unknown_key(["serving"], "replica", ["port", "replicas"]) == Problem(
        "mlops:serving.replica", "is not a known key; did you mean 'mlops:serving.replicas'?", "one of port, replicas"
    )
    assert unknown_key([], "zzz", ["b", "a"]) == Problem("mlops:zzz", "is not a known key", "one of a, b")
    assert config_key("mlops:x") == "mlops:x" and config_key("a", 0, "b") == "mlops:a.0.b"


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse("local", "mlops-platform", raw, {}, ())
    return [p.line() for p in info.value.problems]


def test_problems_are_worded_by_kind() -> None:
    raw = stack_config("local")
    raw["serving"] = {**raw["serving"], "replica": 2}
    raw["registry"] = "big"
    raw["serving"]["replicas"] = 0
    lines = problems_of(raw)
    assert "config 'mlops:serving.replica' is not a known key; did you mean 'mlops:serving.replicas'?" in "\n".join(
        lines
    )
    assert "config 'mlops:registry' is str; allowed: an object of settings" in lines
    assert "config 'mlops:serving.replicas' = 0 is not allowed; allowed: an integer from 1 to 64" in lines


def test_a_bad_list_item_is_reported_against_its_list() -> None:
    raw = stack_config("local")
    raw["unknownTop"] = 1
    lines = problems_of(raw)
    assert lines[0].startswith("config 'mlops:unknownTop' is not a known key")


def home_dir(stack: str) -> str:
    from contract import data_dir

    return str(Path(data_dir()) / stack / "predictions")


def test_defaults_derived_for_the_docker_target() -> None:
    raw = {"target": "docker", "tracking": {"port": 5600}, "kubernetes": {"x": 1}, "unset": None}
    assert derived_defaults("dev", raw) == {
        "target": "docker",
        "tracking": {"port": 5600, "publicUrl": "http://127.0.0.1:5600"},
        "artifacts": {"volume": "mlops-dev-artifacts"},
        "serving": {"predictionLog": {"dir": home_dir("dev")}},
    }
    assert derived_defaults("dev", {"target": "docker"})["tracking"] == {"publicUrl": "http://127.0.0.1:5500"}
    assert raw["tracking"] == {"port": 5600}  # the caller's mapping is left alone


def test_defaults_derived_for_the_kubernetes_target() -> None:
    assert derived_defaults("dev", {"target": "kubernetes", "serving": {"replicas": 3}}) == {
        "target": "kubernetes",
        "serving": {"replicas": 3, "predictionLog": {"dir": home_dir("dev")}},
        "artifacts": {"volume": "mlops-dev-artifacts"},
        "tracking": {},
        "kubernetes": {
            "namespace": "mlops-dev",
            "training": {"namespace": "mlops-dev-training"},
            "artifacts": {},
            "registry": {"address": "127.0.0.1:30500", "pushAddress": "127.0.0.1:30500"},
            "serving": {"autoscaling": {"maxReplicas": 3}},
        },
    }
    external = {"registry": {"mode": "external", "address": "r:5000"}, "namespace": "ml"}
    k8s = derived_defaults("dev", {"target": "kubernetes", "kubernetes": external, "serving": {"replicas": True}})
    assert k8s["kubernetes"]["registry"] == {"mode": "external", "address": "r:5000", "pushAddress": "r:5000"}
    assert k8s["kubernetes"]["training"] == {"namespace": "ml-training"}
    assert "serving" not in k8s["kubernetes"]
    node_port = {"registry": {"nodePort": 30123, "pushAddress": "p:1"}}
    k8s = derived_defaults("dev", {"target": "kubernetes", "kubernetes": node_port, "serving": {"replicas": 0}})
    assert k8s["kubernetes"]["registry"] == {"nodePort": 30123, "address": "127.0.0.1:30123", "pushAddress": "p:1"}
    assert "serving" not in k8s["kubernetes"]


def test_a_non_object_section_is_left_for_validation_to_report() -> None:
    assert derived_defaults("dev", {"target": "docker", "artifacts": "x"})["artifacts"] == "x"


def test_two_components_on_one_docker_port_are_refused() -> None:
    raw = stack_config("local")
    raw["serving"] = {**raw["serving"], "port": raw["tracking"]["port"]}
    raw["registry"] = {**raw["registry"], "port": raw["tracking"]["port"]}
    secrets = {"registryPassword": pulumi.Output.secret("x")}
    with pytest.raises(SettingsError) as info:
        parse("local", "mlops-platform", raw, secrets, ())
    port = raw["tracking"]["port"]
    assert [p.line() for p in info.value.problems] == [
        f"config 'mlops:tracking.port' = {port} is already used by mlops:registry.port; "
        "allowed: a port no other component of the stack publishes",
        f"config 'mlops:serving.port' = {port} is already used by mlops:registry.port; "
        "allowed: a port no other component of the stack publishes",
    ]


def test_the_local_stack_breaks_no_rule_between_keys() -> None:
    settings = parse("local", "mlops-platform", stack_config("local"), {"registryPassword": pulumi.Output.secret("x")})
    assert cross_key_problems(settings) == []
