"""A search's trials as containers on a docker environment, for real: 4 trials, at most 2 at once, one of
them failing; the failure is recorded on the parent run, the others are scored, the best registered once."""

from __future__ import annotations

import itertools
import json

import pytest

from ml.search import candidates
from ml.training_config import load_config_and_spec
from tests.mlops.jobs.job_cli import env_for, example_config, run_mlops, said, search_runs, summary

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
