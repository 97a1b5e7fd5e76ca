"""`mlops:kubernetes` parsing: the stacks' values come through, bad values name the stack, key and what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from infra import settings
from infra.settings import KubernetesSettings, Settings, SettingsError

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def stack_raw(stack: str) -> dict[str, Any]:
    config = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("mlops:")}


def secrets(*keys: str) -> dict[str, pulumi.Output[str]]:
    return {key: pulumi.Output.secret(f"{key}-value") for key in keys}


S3 = secrets("artifactsAccessKeyId", "artifactsSecretAccessKey")
# What the non-kubernetes part of every test stack needs, so each test sees only its own problems.
BASE = secrets("registryPassword", "postgresPassword")


def parse_all(stack: str, raw: dict[str, Any], given: dict[str, pulumi.Output[str]]) -> Settings:
    return settings.parse(stack, "mlops-platform", raw, {**BASE, **given})


def parse(stack: str, raw: dict[str, Any], given: dict[str, pulumi.Output[str]]) -> KubernetesSettings:
    parsed = parse_all(stack, raw, given).kubernetes
    assert parsed is not None
    return parsed


def minimal(**kubernetes: Any) -> dict[str, Any]:
    return {"target": "kubernetes", "kubernetes": {"artifacts": {"bucket": "ml-artifacts"}, **kubernetes}}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_kubernetes_stack_parses(stack: str) -> None:
    parsed = parse(stack, stack_raw(stack), S3)
    assert parsed.namespace == f"mlops-{stack}"
    assert parsed.training.namespace == f"mlops-{stack}-training"
    assert parsed.artifacts.location == f"s3://mlops-{stack}-artifacts/mlflow"
    assert parsed.prediction_log_uri == f"s3://mlops-{stack}-artifacts/predictions"


def test_stacks_grow_toward_prod() -> None:
    dev, staging, prod = (parse(s, stack_raw(s), S3) for s in ("dev", "staging", "prod"))
    assert dev.training.quota.cpu < staging.training.quota.cpu < prod.training.quota.cpu
    assert dev.registry.storage_gi < staging.registry.storage_gi < prod.registry.storage_gi
    assert staging.tracking.postgres_storage_gi < prod.tracking.postgres_storage_gi
    assert not dev.serving.autoscaling.enabled
    assert staging.serving.autoscaling.max_replicas < prod.serving.autoscaling.max_replicas
    raws = {s: stack_raw(s) for s in ("dev", "staging", "prod")}
    assert [raws[s]["serving"]["replicas"] for s in ("dev", "staging", "prod")] == [1, 2, 3]
    assert [raws[s].get("production", False) for s in ("dev", "staging", "prod")] == [False, False, True]


def test_defaults() -> None:
    parsed = parse("dev", minimal(), S3)
    assert parsed.namespace == "mlops-dev"
    assert parsed.registry.mode == "in-cluster"
    assert parsed.registry.address == parsed.registry.push_address == "127.0.0.1:30500"
    assert parsed.tracking.database == "in-cluster"
    assert parse_all("dev", minimal(), S3).secrets.tracking_database_url is None
    assert parsed.serving.autoscaling.enabled is False
    assert parsed.image_pull_policy == "IfNotPresent" and parsed.storage_class == ""
    assert parsed.tracking.allow_from_namespaces == ()
    listed = parse("dev", minimal(tracking={"allowFromNamespaces": ["ingress-nginx"]}), S3)
    assert listed.tracking.allow_from_namespaces == ("ingress-nginx",)


def test_external_registry_requires_an_address() -> None:
    with pytest.raises(SettingsError) as err:
        parse("prod", minimal(registry={"mode": "external"}), S3)
    assert "mlops:kubernetes.registry.address" in str(err.value) and "required" in str(err.value)
    parsed = parse("prod", minimal(registry={"mode": "external", "address": "ghcr.io/acme/mlops"}), S3)
    assert parsed.registry.address == parsed.registry.push_address == "ghcr.io/acme/mlops"


@pytest.mark.parametrize("missing", ["artifactsAccessKeyId", "artifactsSecretAccessKey"])
def test_missing_s3_secret_says_how_to_set_it(missing: str) -> None:
    given = {k: v for k, v in S3.items() if k != missing}
    with pytest.raises(SettingsError) as err:
        parse("staging", minimal(), given)
    message = str(err.value)
    assert "stack 'staging'" in message and f"mlops:{missing}" in message
    assert f"pulumi config set --secret mlops:{missing} VALUE --stack staging" in message


def test_external_database_requires_its_url_secret() -> None:
    raw = {**minimal(tracking={"database": "external"}), "tracking": {"backend": "postgres"}}
    with pytest.raises(SettingsError) as err:
        parse("prod", raw, S3)
    assert "mlops:trackingDatabaseUrl" in str(err.value)
    parsed = parse_all("prod", raw, {**S3, **secrets("trackingDatabaseUrl")})
    assert parsed.kubernetes is not None and parsed.kubernetes.tracking.database == "external"
    assert parsed.secrets.tracking_database_url is not None


def test_in_cluster_database_needs_no_url() -> None:
    raw = {**minimal(), "tracking": {"backend": "postgres"}}
    assert parse_all("prod", raw, S3).secrets.tracking_database_url is None


@pytest.mark.parametrize(
    ("kubernetes", "key", "allowed"),
    [
        ({"namespace": "Mlops_Dev"}, "mlops:kubernetes.namespace", "RFC 1123"),
        ({"registry": {"mode": "cloud"}}, "mlops:kubernetes.registry.mode", "in-cluster | external"),
        ({"registry": {"nodePort": 80}}, "mlops:kubernetes.registry.nodePort", "30000 to 32767"),
        ({"artifacts": {"bucket": "Bad_Bucket"}}, "mlops:kubernetes.artifacts.bucket", "S3 bucket"),
        (
            {"artifacts": {"bucket": "ok-bucket", "endpoint": "s3.example"}},
            "mlops:kubernetes.artifacts.endpoint",
            "URL",
        ),
        ({"artifacts": {"bucket": "ok-bucket", "prefix": "/abs/"}}, "mlops:kubernetes.artifacts.prefix", "prefix"),
        ({"tracking": {"database": "rds"}}, "mlops:kubernetes.tracking.database", "in-cluster | external"),
        ({"training": {"quota": {"pods": 0}}}, "mlops:kubernetes.training.quota.pods", "1 to 10000"),
        ({"training": {"namespace": "mlops-dev"}}, "mlops:kubernetes.training.namespace", "namespace of its own"),
        (
            {"serving": {"autoscaling": {"enabled": "yes"}}},
            "mlops:kubernetes.serving.autoscaling.enabled",
            "true | false",
        ),
        (
            {"serving": {"autoscaling": {"cpuUtilization": 150}}},
            "mlops:kubernetes.serving.autoscaling.cpuUtilization",
            "10 to 100",
        ),
        (
            {"serving": {"disruptionBudget": {"maxUnavailable": 0}}},
            "mlops:kubernetes.serving.disruptionBudget.maxUnavailable",
            "1 to 256",
        ),
        ({"imagePullPolicy": "Never"}, "mlops:kubernetes.imagePullPolicy", "IfNotPresent | Always"),
        (
            {"tracking": {"allowFromNamespaces": "ingress-nginx"}},
            "mlops:kubernetes.tracking.allowFromNamespaces",
            "list of namespace names",
        ),
        (
            {"tracking": {"allowFromNamespaces": ["Ingress"]}},
            "mlops:kubernetes.tracking.allowFromNamespaces",
            "list of namespace names",
        ),
        ({"storageClass": "Fast SSD"}, "mlops:kubernetes.storageClass", "storage class"),
    ],
)
def test_bad_values_name_stack_key_and_allowed(kubernetes: dict[str, Any], key: str, allowed: str) -> None:
    raw = minimal()
    merged = copy.deepcopy(raw["kubernetes"])
    merged.update(kubernetes)
    raw["kubernetes"] = merged
    with pytest.raises(SettingsError) as err:
        parse("dev", raw, S3)
    message = str(err.value)
    assert "stack 'dev'" in message and f"'{key}'" in message and allowed in message


def test_missing_bucket_is_required() -> None:
    with pytest.raises(SettingsError) as err:
        parse("dev", {"target": "kubernetes"}, S3)
    assert "mlops:kubernetes.artifacts.bucket" in str(err.value) and "required" in str(err.value)


def test_section_must_be_an_object() -> None:
    with pytest.raises(SettingsError) as err:
        parse("dev", {"target": "kubernetes", "kubernetes": "mlops-dev"}, S3)
    assert "'mlops:kubernetes'" in str(err.value) and "an object" in str(err.value)


def test_sqlite_tracking_runs_one_replica() -> None:
    with pytest.raises(SettingsError) as err:
        parse("dev", minimal(tracking={"replicas": 2}), S3)
    assert "mlops:kubernetes.tracking.replicas" in str(err.value) and "postgres" in str(err.value)
    raw = {**minimal(tracking={"replicas": 2}), "tracking": {"backend": "postgres"}}
    assert parse("dev", raw, S3).tracking.replicas == 2


def test_autoscaler_maximum_cannot_be_below_replicas() -> None:
    raw = {**minimal(serving={"autoscaling": {"enabled": True, "maxReplicas": 2}}), "serving": {"replicas": 3}}
    with pytest.raises(SettingsError) as err:
        parse("prod", raw, S3)
    assert "maxReplicas" in str(err.value) and "3 to 256" in str(err.value)
    raw["kubernetes"]["serving"]["autoscaling"]["maxReplicas"] = 3
    assert parse("prod", raw, S3).serving.autoscaling.max_replicas == 3


def test_every_missing_secret_is_listed_with_its_command() -> None:
    raw = {**minimal(tracking={"database": "external"}), "tracking": {"backend": "postgres"}}
    with pytest.raises(SettingsError) as err:
        settings.parse("prod", "mlops-platform", raw, {})
    missing = (
        "registryPassword",
        "postgresPassword",
        "artifactsAccessKeyId",
        "artifactsSecretAccessKey",
        "trackingDatabaseUrl",
    )
    assert err.value.keys == tuple(f"mlops:{key}" for key in missing)
    for key in missing:
        assert f"pulumi config set --secret mlops:{key} VALUE --stack prod" in str(err.value)


def test_unknown_kubernetes_key_names_the_closest_one() -> None:
    with pytest.raises(SettingsError) as err:
        parse("dev", minimal(serving={"autoscalng": {"enabled": True}}), S3)
    assert err.value.key == "mlops:kubernetes.serving.autoscalng"
    assert "did you mean 'mlops:kubernetes.serving.autoscaling'" in str(err.value)


def test_kubernetes_bounds_and_strict_types() -> None:
    raw = minimal(
        tracking={"port": 80, "replicas": True},
        training={"quota": {"cpu": "4"}},
        registry={"nodePort": 32768},
    )
    with pytest.raises(SettingsError) as err:
        parse("dev", raw, S3)
    assert set(err.value.keys) == {
        "mlops:kubernetes.tracking.port",
        "mlops:kubernetes.tracking.replicas",
        "mlops:kubernetes.training.quota.cpu",
        "mlops:kubernetes.registry.nodePort",
    }


def test_local_cluster_fills_in_its_defaults_under_what_the_stack_sets() -> None:
    from infra.settings.kubernetes import LOCAL_DEFAULTS, LOCAL_S3_ENDPOINT

    local = parse("dev", minimal(cluster="local", serving={"nodePort": 30700}), S3)
    assert local.kubeconfig == LOCAL_DEFAULTS["kubeconfig"] == "/var/lib/mlops-cluster/admin.kubeconfig"
    assert local.artifacts.endpoint == LOCAL_S3_ENDPOINT and local.artifacts.create_bucket
    assert local.images.node_import == "/run/mlops-cluster/containerd.sock"
    assert local.volume_permissions and local.request_fraction < 1
    assert local.serving.public_url == "http://127.0.0.1:30700"
    # A key the stack sets wins over the local default.
    own = parse(
        "dev", minimal(cluster="local", requestFraction=0.5, artifacts={"bucket": "b-1", "endpoint": "http://s3.x"}), S3
    )
    assert own.request_fraction == 0.5 and own.artifacts.endpoint == "http://s3.x" and own.artifacts.create_bucket
    # Without `cluster: local` nothing of it applies.
    external = parse("dev", minimal(), S3)
    assert external.cluster == "external" and external.kubeconfig == "" and external.request_fraction == 1.0
    assert not external.volume_permissions and external.images.node_import == ""


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_cluster_stacks_default_to_the_local_cluster_with_loopback_node_ports(stack: str) -> None:
    raw = stack_raw(stack)
    parsed = parse(stack, raw, S3)
    assert parsed.cluster == "local"
    assert raw["tracking"]["publicUrl"] == f"http://127.0.0.1:{parsed.tracking.node_port}"
    assert parsed.serving.public_url == f"http://127.0.0.1:{parsed.serving.node_port}"
