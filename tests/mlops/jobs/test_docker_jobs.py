"""`mlops train` as a container on a docker environment, for real: a Docker engine, the trainer image built
from this checkout, an MLflow server container on the environment's network. Only the Pulumi stack is
stood in for (`env_cli`), by the outputs a docker stack exports."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract import LABEL_STACK, VERSION_TAGS
from ml.jobs.datasets import upload_dataset
from ml.jobs.spec import LABEL_JOB, TAG_JOB_DATA_ORIGIN, TAG_JOB_IMAGE, TAG_JOB_NAME
from tests.mlops.jobs.env_cli import ENV_FILE
from tests.mlops.jobs.job_cli import SLOW_FIT, assert_same_model, holdout_predictions
from tests.mlops.jobs.stack import JobStack
from tests.support.paths import EXAMPLES, REPO

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "breast_cancer"


def _config(tmp_path: Path, model_name: str, dataset: Path | None = None, **changes: Any) -> Path:
    raw = yaml.safe_load((EXAMPLE / "train.yaml").read_text())
    raw.update(model_name=model_name, dataset=str(dataset or EXAMPLE / "dataset.yaml"), **changes)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _env(tmp_path: Path, stack: JobStack, **training_changes: Any) -> dict[str, str]:
    described = tmp_path / "environment.json"
    described.write_text(json.dumps(stack.description(**training_changes)))
    # `mlops train --env` must go by the stack: a tracking URI exported into this process by other suites
    # (MLflow exports what `set_tracking_uri` is given) would win over --env and train in-process.
    inherited = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    return {**inherited, ENV_FILE: str(described), "COLUMNS": "200"}


def _mlops(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tests.mlops.jobs.env_cli", *args]
    return subprocess.run(command, env=env, cwd=REPO, text=True, capture_output=True, timeout=timeout, check=False)


def _job_objects(stack: JobStack) -> dict[str, list[str]]:
    import docker

    client = docker.from_env()
    filters = {"label": [f"{LABEL_STACK}={stack.name}", LABEL_JOB]}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=filters)],
        "volumes": [v.name for v in client.volumes.list(filters=filters)],
    }


def _version_tags(stack: JobStack, name: str, version: str = "1") -> dict[str, str]:
    from mlflow import MlflowClient

    return dict(MlflowClient(stack.tracking_uri, stack.tracking_uri).get_model_version(name, version).tags)


def _committed(directory: Path) -> str:
    """Make `directory` a git repository with its files committed; its commit (lineage: `git.commit`)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=directory, text=True, capture_output=True, check=True)
        return done.stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "config")
    return git("rev-parse", "HEAD")


def _said(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"


def test_a_job_trains_the_example_registers_it_and_matches_the_in_process_training(tmp_path, docker_stack, model_name):
    config = _config(tmp_path, model_name)
    env = _env(tmp_path, docker_stack)
    commit = _committed(tmp_path)

    started = time.monotonic()
    job = _mlops(["train", "--env", docker_stack.name, "--config", str(config), "--json"], env)
    job_seconds = time.monotonic() - started
    assert job.returncode == 0, _said(job)
    summary = json.loads(job.stdout.strip().splitlines()[-1])
    assert summary["version"] == "1" and summary["challenger"] is True
    assert "data ok: 569 rows" in job.stderr  # the job's progress streamed to the terminal
    # The image has no git: without GIT_PYTHON_REFRESH=quiet, MLflow's import of GitPython printed GitPython's
    # set-up help (about 50 lines) into every job's log at each run it started.
    assert "git executable" not in job.stderr, _said(job)

    tags = _version_tags(docker_stack, model_name)
    assert set(VERSION_TAGS) <= set(tags)
    assert tags["gates.passed"] == "true"
    assert tags["data.uri"] == "sklearn://breast_cancer"
    assert (tags["git.commit"], tags["git.dirty"]) == (commit, "false")  # the operator's checkout: no .git in the image
    assert tags[TAG_JOB_IMAGE] == docker_stack.trainer_image
    assert tags[TAG_JOB_NAME].startswith(f"{docker_stack.name}-train-")
    assert _job_objects(docker_stack) == {"containers": [], "volumes": []}

    started = time.monotonic()
    local = _mlops(["train", "--env", docker_stack.name, "--config", str(config), "--json", "--where", "local"], env)
    local_seconds = time.monotonic() - started
    assert local.returncode == 0, _said(local)
    in_process = json.loads(local.stdout.strip().splitlines()[-1])
    assert in_process["version"] == "2"
    assert in_process["metrics"] == summary["metrics"]  # same config, seed and data: same model
    assert in_process["data_sha256"] == summary["data_sha256"]
    in_process_tags = _version_tags(docker_stack, model_name, "2")
    assert {k: in_process_tags[k] for k in VERSION_TAGS} == {k: tags[k] for k in VERSION_TAGS}
    assert TAG_JOB_NAME not in in_process_tags
    # The same holdout rows, and the same predictions on them.
    job_predictions = holdout_predictions(docker_stack.tracking_uri, model_name, "1")
    assert_same_model(job_predictions, holdout_predictions(docker_stack.tracking_uri, model_name, "2"))
    print(f"\njob {job_seconds:.1f} s, in process {local_seconds:.1f} s: overhead {job_seconds - local_seconds:.1f} s")


def test_a_local_file_is_uploaded_once_and_the_job_checks_its_hash(tmp_path, docker_stack, model_name):
    from sklearn.datasets import load_breast_cancer

    data = tmp_path / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    spec = yaml.safe_load((EXAMPLE / "dataset.yaml").read_text())
    spec["source"] = {"uri": f"file://{data}"}
    spec_path = tmp_path / "dataset.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    config = _config(tmp_path, model_name, dataset=spec_path)

    result = _mlops(["train", "--env", docker_stack.name, "--config", str(config)], _env(tmp_path, docker_stack))
    assert result.returncode == 0, _said(result)
    assert f"{model_name} version 1" in result.stdout

    sha256 = hashlib.sha256(data.read_bytes()).hexdigest()
    tags = _version_tags(docker_stack, model_name)
    assert tags["data.sha256"] == sha256
    assert tags["data.uri"].startswith("runs:/") and tags[TAG_JOB_DATA_ORIGIN] == str(data)
    again = upload_dataset(data, docker_stack.tracking_uri)
    assert (again.uploaded, again.uri) == (False, tags["data.uri"])


def test_a_failing_job_ends_with_its_last_log_lines_and_what_to_do(tmp_path, docker_stack, model_name):
    # Valid YAML the operator's checks accept; scikit-learn refuses C=-1 only when the job fits.
    config = _config(tmp_path, model_name, estimator={"kind": "logistic_regression", "params": {"C": -1.0}})
    result = _mlops(["train", "--env", docker_stack.name, "--config", str(config)], _env(tmp_path, docker_stack))
    assert result.returncode not in (0, 3), _said(result)
    assert "failed with exit code" in result.stderr, _said(result)
    assert "its last log lines" in result.stderr and "  | " in result.stderr
    assert "InvalidParameterError" in result.stderr or "'C' parameter" in result.stderr, _said(result)
    assert "--where local" in result.stderr
    assert _job_objects(docker_stack) == {"containers": [], "volumes": []}


def test_ctrl_c_stops_the_job_and_leaves_no_container(tmp_path, docker_stack, model_name):
    import docker

    client = docker.from_env()
    filters = {"label": [f"{LABEL_STACK}={docker_stack.name}", LABEL_JOB], "status": "running"}
    config = _config(tmp_path, model_name, estimator=SLOW_FIT)
    command = [sys.executable, "-m", "tests.mlops.jobs.env_cli", "train", "--env", docker_stack.name, "--config"]
    process = subprocess.Popen(
        [*command, str(config)], env=_env(tmp_path, docker_stack), cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not client.containers.list(filters=filters):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the job's container never ran"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, f"{stdout}\n{stderr}"
    assert "interrupted" in stderr
    assert _job_objects(docker_stack) == {"containers": [], "volumes": []}


def test_a_missing_image_is_reported_at_once(tmp_path, docker_stack, model_name):
    missing = "mlops-jobs-test/trainer:00000000000000000000"
    env = _env(tmp_path, docker_stack, image=missing)
    started = time.monotonic()
    result = _mlops(["train", "--env", docker_stack.name, "--config", str(_config(tmp_path, model_name))], env)
    assert result.returncode == 4, _said(result)
    assert f"the trainer image {missing} does not exist" in result.stderr
    assert time.monotonic() - started < 30
    assert _job_objects(docker_stack) == {"containers": [], "volumes": []}
