"""`mlops:monitoring.retrain.trainConfig` on a docker stack with a schedule: the scheduler gets what a retrain
needs as files, and the stack gets a job gate that holds the Docker engine's socket, which the scheduler never
does. The program runs under Pulumi mocks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract import monitor_env
from infra.components.docker import monitoring
from infra.policy import rules
from tests.support.paths import EXAMPLES
from tests.support.pulumi_mocks import ProgramRun, run_program, stack_config

MODEL = "models:/breast-cancer/3"
TRAIN_CONFIG = EXAMPLES / "breast_cancer" / "train.yaml"


@pytest.fixture
def socket_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An engine socket path the program stats for its group (a plain file: nothing connects to it here)."""
    path = tmp_path / "docker.sock"
    path.touch()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    return path


def local(labels: str, **monitoring: Any) -> ProgramRun:
    config = stack_config("local")
    config["monitoring"] = {
        **config["monitoring"],
        "schedule": "*/5 * * * *",
        "retrain": {"onDrift": True, "trainConfig": str(TRAIN_CONFIG)},
        "labels": labels,
        "promoteTo": "local-prod",
        **monitoring,
    }
    return run_program("local", config, resolved_model=MODEL)


def containers(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in run.of_kind("docker:Container")}


def test_the_gate_holds_the_socket_as_a_non_root_user_of_its_group_and_publishes_nothing(
    socket_file: Path, tmp_path: Path
) -> None:
    run = local(str(tmp_path))
    found = containers(run)
    gate, tracking = found["mlops-local-jobs"], found["mlops-local-tracking"]
    assert gate["image"] == run.outputs["images"]["trainer"]
    assert gate["entrypoint"] == ["python", "-m", "ml.jobs.gate_server"]
    assert gate["user"] == f"10001:{os.stat(socket_file).st_gid}" and gate["read_only"] is True
    assert gate["ports"] == [] and gate["network"] == tracking["network"]
    assert gate["labels"] == {**tracking["labels"], "mlops.role": "job-gate"}
    (socket,) = [m for m in gate["mounts"] if m["type"] == "bind"]
    assert (socket["source"], socket["target"]) == (str(socket_file), "/var/run/docker.sock")
    assert set(gate["secret_files"]) == {monitor_env.RETRAIN_SETUP_FILE, monitor_env.RETRAIN_GATE_TOKEN}
    setup = json.loads(gate["secret_files"][monitor_env.RETRAIN_SETUP_FILE])
    assert setup["training"] == run.outputs["training"] and setup["environment"] == "local"
    assert setup[monitor_env.GATE_KEY] == f"http://mlops-local-jobs:{monitor_env.GATE_PORT}"
    assert rules.resource_findings("pulumi-python:dynamic:Resource", gate) == {}


def test_the_scheduler_gets_the_setup_the_models_files_and_the_token_but_no_socket(
    socket_file: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\n")
    found = containers(local(str(labels)))
    monitor, gate = found["mlops-local-monitor"], found["mlops-local-jobs"]
    files = monitor["secret_files"]
    assert monitor["env"][monitor_env.RETRAIN_DIR_ENV] == "/run/mlops-secrets"
    assert files[monitor_env.RETRAIN_GATE_TOKEN] == gate["secret_files"][monitor_env.RETRAIN_GATE_TOKEN]
    assert files[monitor_env.RETRAIN_SETUP_FILE] == gate["secret_files"][monitor_env.RETRAIN_SETUP_FILE]
    config = yaml.safe_load(files[monitor_env.RETRAIN_TRAIN_CONFIG])
    assert config["dataset"] == monitor_env.RETRAIN_DATASET_SPEC and config["model_name"] == "breast-cancer"
    assert files[monitor_env.RETRAIN_DATASET_SPEC] == (EXAMPLES / "breast_cancer" / "dataset.yaml").read_text()
    assert not any("docker.sock" in str(m["source"]) for m in monitor["mounts"])
    # The labels file on this host, read-only, where the monitor reads it; the loop's keys travel with it.
    thresholds = json.loads(monitor["env"][monitor_env.THRESHOLDS_ENV])
    assert thresholds["labels"] == f"{monitoring.LABELS_MOUNT}/labels.csv" and thresholds["promoteTo"] == "local-prod"
    (mount,) = [m for m in monitor["mounts"] if m["target"] == monitoring.LABELS_MOUNT]
    assert (mount["source"], mount["read_only"]) == (str(tmp_path), True)


def test_labels_in_s3_are_read_where_they_are(socket_file: Path) -> None:
    monitor = containers(local("s3://bucket/labels/"))["mlops-local-monitor"]
    assert json.loads(monitor["env"][monitor_env.THRESHOLDS_ENV])["labels"] == "s3://bucket/labels/"
    assert [m for m in monitor["mounts"] if m["target"] == monitoring.LABELS_MOUNT] == []


def test_without_a_train_config_there_is_no_gate_and_no_loop_keys(socket_file: Path) -> None:
    config = stack_config("local")
    config["monitoring"] = {**config["monitoring"], "schedule": "*/5 * * * *", "promoteTo": "local-prod"}
    found = containers(run_program("local", config, resolved_model=MODEL))
    assert "mlops-local-jobs" not in found
    monitor = found["mlops-local-monitor"]
    assert monitor_env.RETRAIN_DIR_ENV not in monitor["env"] and monitor["secret_files"] == {}
    assert "promoteTo" not in json.loads(monitor["env"][monitor_env.THRESHOLDS_ENV])


def test_a_remote_engine_or_a_missing_socket_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    with pytest.raises(ValueError, match="run `up` on the Docker host itself"):
        monitoring.engine_socket()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nothing.sock'}")
    with pytest.raises(ValueError, match="start the engine"):
        monitoring.engine_socket()
