"""The program of the `local` stack under Pulumi mocks: what each component is asked to create."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.settings import SettingsError
from tests.support.pulumi_mocks import ProgramRun, is_secret, run_program, stack_config

LOCAL = stack_config("local")


@pytest.fixture(scope="module")
def no_model() -> ProgramRun:
    return run_program("local", LOCAL)


@pytest.fixture(scope="module")
def with_model() -> ProgramRun:
    return run_program("local", LOCAL, resolved_model="models:/breast-cancer/7")


def containers(run: ProgramRun) -> dict[str, dict]:
    return {c["name"]: c for c in run.of_kind("docker:Container")}


def test_components_and_their_type_tokens(no_model: ProgramRun) -> None:
    assert {
        "mlops:platform:Platform",
        "mlops:registry:ContainerRegistry",
        "mlops:storage:ArtifactStore",
        "mlops:tracking:TrackingServer",
        "mlops:training:TrainingCluster",
        "mlops:serving:ServingCluster",
    } <= no_model.types()
    for name in ("mlops-registry-container", "mlops-tracking-container", "mlops-network", "mlops-artifacts-volume"):
        assert no_model.named(name).typ.startswith("pulumi-python:dynamic/docker:")


def test_outputs_match_the_contract(no_model: ProgramRun) -> None:
    out = no_model.outputs
    assert out["target"] == "docker"
    assert out["tracking_uri"] == "http://127.0.0.1:5500"
    assert out["tracking_uri_internal"] == "http://mlops-local-tracking:5000"
    assert out["registry_address"] == "127.0.0.1:5501"
    assert out["artifact_location"] == "mlflow-artifacts:/"
    assert out["serving_model_uri"] == "models:/breast-cancer@champion"
    assert out["prediction_log_uri"].startswith("file:///") and out["prediction_log_uri"].endswith(
        "/mlops-platform/local/predictions"
    )
    assert set(out["images"]) == {"tracking", "server", "trainer", "balancer"}
    for ref in out["images"].values():
        repository, tag = ref.rsplit(":", 1)
        assert repository.startswith("127.0.0.1:5501/mlops/") and len(tag) == 20 and tag != "latest"
    assert out["training"]["limits"] == {"cpus": 2.0, "memory_mb": 4096}
    assert out["training"]["network"] == "mlops-local"
    assert out["training"]["image"] == out["images"]["trainer"]


def test_nothing_to_serve_means_no_replicas_and_an_empty_endpoint(no_model: ProgramRun) -> None:
    assert no_model.outputs["serving_endpoint"] == ""
    assert not [n for n in containers(no_model) if "serving" in n or "balancer" in n]


def test_registry_and_tracking_get_what_settings_ask_for(no_model: ProgramRun) -> None:
    by_name = containers(no_model)
    registry, tracking = by_name["mlops-local-registry"], by_name["mlops-local-tracking"]
    assert registry["ports"] == [{"protocol": "tcp", "internal": 5000, "external": 5501, "host_ip": "127.0.0.1"}]
    assert tracking["ports"] == [{"protocol": "tcp", "internal": 5000, "external": 5500, "host_ip": "127.0.0.1"}]
    assert tracking["limits"] == {"cpus": 1.0, "memory_mb": 2048}
    assert tracking["restart"] == "unless-stopped" and tracking["healthcheck"]["test"][-1].endswith("/health")
    command = tracking["command"]
    assert command[command.index("--backend-store-uri") + 1] == "sqlite:////data/mlflow.db"
    assert command[command.index("--artifacts-destination") + 1] == "/artifacts"
    assert "--serve-artifacts" in command
    assert "mlops-local-tracking" in command[command.index("--allowed-hosts") + 1]
    mounts = {m["target"]: m["source"] for m in tracking["mounts"]}
    assert mounts["/data"] == "mlops-local-tracking-data" and mounts["/artifacts"] == "mlops-local-artifacts"
    assert registry["env"] == {"MLOPS_REGISTRY_USERNAME": "mlops"}
    # The password reaches the registry as a file only: neither its environment nor its command line.
    assert registry["secret_env"] == {} and set(registry["secret_files"]) == {"registry-password"}
    assert not [v for v in registry["env"].values() if "x" * 32 in v]
    assert is_secret(no_model.named("mlops-registry-container").inputs["secret_files"])


def test_every_workload_is_loopback_limited_non_root_and_labelled(with_model: ProgramRun) -> None:
    for container in with_model.of_kind("docker:Container"):
        assert all(p["host_ip"] == "127.0.0.1" for p in container["ports"]), container["name"]
        assert container["limits"]["cpus"] > 0 and container["limits"]["memory_mb"] > 0, container["name"]
        assert container["user"] not in ("", "root", "0", "0:0"), container["name"]
        assert container["read_only"] is True, container["name"]
        assert container["labels"]["mlops.stack"] == "local", container["name"]
        assert container["network"] == "mlops-local", container["name"]
    for volume in with_model.of_kind("docker:Volume"):
        assert volume["labels"] == {"mlops.stack": "local", "mlops.project": "mlops-platform"}


def test_a_resolved_model_gets_replicas_behind_one_loopback_endpoint(with_model: ProgramRun) -> None:
    by_name = containers(with_model)
    replicas = [c for n, c in by_name.items() if n.startswith("mlops-local-serving-")]
    assert len(replicas) == 2
    assert len({r["name"] for r in replicas}) == 2
    for replica in replicas:
        assert replica["env"]["MLOPS_MODEL_URI"] == "models:/breast-cancer/7"
        assert replica["env"]["MLFLOW_TRACKING_URI"] == "http://mlops-local-tracking:5000"
        assert replica["env"]["MLOPS_PREDICTION_LOG"] == "file:///var/log/mlops/predictions"
        assert replica["ports"] == [] and replica["aliases"] == ["mlops-local-serving"]
        assert replica["limits"] == {"cpus": 1.0, "memory_mb": 1024}
        assert replica["image"] == with_model.outputs["images"]["server"]
    balancer = by_name["mlops-local-balancer"]
    assert balancer["ports"][0]["external"] == 5580 and balancer["env"]["MLOPS_UPSTREAM"] == "mlops-local-serving"
    assert with_model.outputs["serving_endpoint"] == "http://127.0.0.1:5580"
    assert with_model.outputs["serving_model_version_uri"] == "models:/breast-cancer/7"


def test_a_new_model_version_renames_replicas_so_the_old_ones_serve_until_the_new_are_ready(
    with_model: ProgramRun,
) -> None:
    newer = run_program("local", LOCAL, resolved_model="models:/breast-cancer/8")
    old = sorted(n for n in containers(with_model) if n.startswith("mlops-local-serving-"))
    new = sorted(n for n in containers(newer) if n.startswith("mlops-local-serving-"))
    assert not set(old) & set(new)


def test_images_are_content_tagged_and_chained(no_model: ProgramRun) -> None:
    images = {i["repository"].rsplit("/", 1)[-1]: i for i in no_model.of_kind("docker:Image")}
    assert set(images) == {"deps", "registry", "tracking", "server", "trainer", "balancer"}
    deps_ref = f"{images['deps']['repository']}:{images['deps']['tag']}"
    for role in ("tracking", "server", "trainer"):
        assert images[role]["build_args"] == {"DEPS_IMAGE": deps_ref}
        assert images[role]["push"] is True
    assert images["deps"]["push"] is False and images["deps"]["build_args"] == {
        "BASE_IMAGE": "mlops-base:bookworm-py311"
    }
    assert "ml/serve/app.py" in images["server"]["files"]


def test_postgres_backend_adds_a_database_container(program_runner: Callable[..., ProgramRun]) -> None:
    run = program_runner("local", {**LOCAL, "tracking": {**LOCAL["tracking"], "backend": "postgres"}})
    by_name = containers(run)
    assert "mlops-local-postgres" in by_name
    tracking = by_name["mlops-local-tracking"]
    assert "--backend-store-uri" not in tracking["command"]
    # The password reaches both containers as a file only; the tracking image's wrapper builds the URI.
    assert tracking["secret_env"] == {} and set(tracking["secret_files"]) == {"postgres-password"}
    assert tracking["env"]["MLOPS_POSTGRES_PASSWORD_FILE"] == "/run/mlops-secrets/postgres-password"
    postgres = by_name["mlops-local-postgres"]
    assert postgres["secret_env"] == {} and set(postgres["secret_files"]) == {"postgres-password"}
    assert "postgres" in run.outputs["images"]


def test_a_bad_config_fails_the_program_naming_stack_and_key() -> None:
    with pytest.raises(SettingsError, match=r"stack 'itest': config 'mlops:serving.replicas'"):
        run_program("itest", {**LOCAL, "serving": {**LOCAL["serving"], "replicas": 0}})
