"""A search's trials as containers on a docker environment, for real: 4 trials, at most 2 at once, one of
them failing; the failure is recorded on the parent run, the others are scored, the best registered once;
and Ctrl-C during the trials leaves no container."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time

import pytest

from contract import LABEL_STACK
from ml.jobs.spec import LABEL_JOB
from ml.search import candidates
from ml.training_config import load_config_and_spec
from tests.mlops.jobs.job_cli import (
    SLOW_FIT,
    env_for,
    example_config,
    mlops_command,
    run_mlops,
    said,
    search_runs,
    summary,
)
from tests.support.paths import REPO

pytestmark = pytest.mark.integration

# C=-1 is refused by scikit-learn only when the trial fits: a trial that fails for a reason of its own.
SEARCH = {"params": {"C": [0.1, -1.0, 1.0, 10.0]}, "trials": 4, "cv": 3, "parallelism": 2}


def test_four_trials_two_at_once_one_failing_and_the_best_registered_once(tmp_path, docker_stack, model_name):
    config = example_config(tmp_path, model_name, search=SEARCH)
    parsed, _ = load_config_and_spec(config)
    failing = next(n for n, params in enumerate(candidates(parsed), start=1) if params["C"] < 0)

    result = run_mlops(
        ["train", "--env", docker_stack.name, "--config", str(config), "--json"],
        env_for(tmp_path, docker_stack.description()),
    )
    assert result.returncode == 0, said(result)
    assert "4 trials as jobs, 2 at once" in result.stderr
    assert f"trial {failing} failed: exit code 5" in result.stderr, said(result)
    assert summary(result)["version"] == "1"

    parent, trials = search_runs(docker_stack.tracking_uri, model_name)
    assert [t.info.run_name for t in trials] == [f"trial-{n}" for n in range(1, 5)]
    assert {t.data.tags.get("mlflow.parentRunId") for t in trials} == {parent.info.run_id}
    statuses = {t.info.run_name: t.info.status for t in trials}
    assert statuses.pop(f"trial-{failing}") == "FAILED" and set(statuses.values()) == {"FINISHED"}
    failed = json.loads(parent.data.tags["search.failed_trials"])
    assert list(failed) == [str(failing)] and "InvalidParameterError" in failed[str(failing)]
    scored = [t for t in trials if t.info.status == "FINISHED"]
    best = max(scored, key=lambda t: t.data.metrics["cv_roc_auc"])
    assert parent.data.params["model.C"] == best.data.params["model.C"]
    spans = sorted((t.info.start_time, t.info.end_time) for t in trials)
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), spans  # 2 at once


def test_ctrl_c_during_the_trials_removes_every_trial_container_and_starts_no_other(tmp_path, docker_stack, model_name):
    import docker

    search = {**SEARCH, "params": {"min_samples_leaf": [1, 2, 3, 4]}}
    config = example_config(tmp_path, model_name, estimator=SLOW_FIT, search=search)
    command = mlops_command("train", "--env", docker_stack.name, "--config", str(config))
    env = env_for(tmp_path, docker_stack.description())
    process = subprocess.Popen(command, env=env, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    client = docker.from_env()
    filters = {"label": [f"{LABEL_STACK}={docker_stack.name}", LABEL_JOB], "status": "running"}
    deadline = time.monotonic() + 120
    while len(client.containers.list(filters=filters)) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "two trial containers never ran at once"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=90)
    assert process.returncode == 130, f"{stdout}\n{stderr}"
    assert "interrupted" in stderr
    left = client.containers.list(all=True, filters={"label": [f"{LABEL_STACK}={docker_stack.name}", LABEL_JOB]})
    assert left == []
    volumes = client.volumes.list(filters={"label": [f"{LABEL_STACK}={docker_stack.name}", LABEL_JOB]})
    assert volumes == []
