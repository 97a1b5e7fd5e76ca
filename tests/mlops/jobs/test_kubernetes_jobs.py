"""`mlops train` as Kubernetes Jobs on a real local cluster of the tests' own (`kube_stack`): a Job trains and
registers (the same metrics and holdout predictions as in-process), an Indexed Job runs 4 trials 2 at once
(one failing: recorded, the others go on), a Job over the quota is refused with the quota named, an image
that cannot be pulled is said at once, Ctrl-C deletes the Job.

Only the Pulumi stack is stood in for: the training namespace's objects are created directly, and
`env_cli` describes them as a kubernetes stack's `training` output does. Skipped (saying why) without root,
without the cluster toolchain, or when a cluster of the user's runs.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from contract import VERSION_TAGS
from ml.jobs.spec import TAG_JOB_IMAGE, TAG_JOB_NAME
from ml.search import candidates
from ml.training_config import load_config_and_spec
from tests.mlops.jobs.job_cli import (
    SLOW_FIT,
    assert_same_model,
    env_for,
    example_config,
    holdout_predictions,
    mlops_command,
    run_mlops,
    said,
    search_runs,
    summary,
)
from tests.mlops.jobs.kube_stack import TRAINING_NAMESPACE, KubeJobStack, kube_job_stack
from tests.support.local_cluster import PodWatch, skip_reason
from tests.support.paths import REPO

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

# C=-1 is refused by scikit-learn when its trial fits: one index of the Indexed Job fails, the others go on.
SEARCH = {"params": {"C": [0.1, -1.0, 1.0, 10.0]}, "trials": 4, "cv": 3, "parallelism": 2}


KUBE_IMAGES = "mlops-kube-jobs-test"
"""The repository prefix and label of this module's images: the docker job tests, which `make test` runs at the
same time in the other lane, remove theirs (by their own label) when their session ends."""


@pytest.fixture(scope="module")
def kube_stack() -> Iterator[KubeJobStack]:
    from tests.mlops.jobs.images import remove_images, trainer_images

    reason = skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    with kube_job_stack(*trainer_images(KUBE_IMAGES, KUBE_IMAGES)) as stack:
        yield stack
        print("\n" + ", ".join(f"{k} {v:.1f} s" for k, v in stack.timings.items()))
    if os.environ.get("MLOPS_TEST_KEEP_IMAGES") != "1":
        remove_images(KUBE_IMAGES)


def _nothing_left(stack: KubeJobStack) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = {kind: stack.training_objects(kind) for kind in ("jobs", "pods", "configmaps")}
        left["configmaps"] = [c for c in left["configmaps"] if c != "kube-root-ca.crt"]
        if not any(left.values()):
            return
        time.sleep(1)
    raise AssertionError(f"left in {TRAINING_NAMESPACE}: {left}")


def test_a_job_trains_registers_and_matches_the_in_process_training(tmp_path, kube_stack, model_name):
    config = example_config(tmp_path, model_name)
    env = env_for(tmp_path, kube_stack.description())
    started = time.monotonic()
    job = run_mlops(["train", "--env", "it", "--config", str(config), "--json"], env)
    job_seconds = time.monotonic() - started
    assert job.returncode == 0, said(job)
    result = summary(job)
    assert result["version"] == "1" and result["challenger"] is True
    assert "data ok: 569 rows" in job.stderr and f"namespace {TRAINING_NAMESPACE}" in job.stderr

    from mlflow import MlflowClient

    tags = MlflowClient(kube_stack.tracking_uri, kube_stack.tracking_uri).get_model_version(model_name, "1").tags
    assert set(VERSION_TAGS) <= set(tags) and tags["gates.passed"] == "true"
    assert tags[TAG_JOB_IMAGE] == kube_stack.trainer_image and tags[TAG_JOB_NAME].startswith("train-")
    _nothing_left(kube_stack)

    started = time.monotonic()
    local = run_mlops(["train", "--env", "it", "--config", str(config), "--json", "--where", "local"], env)
    local_seconds = time.monotonic() - started
    assert local.returncode == 0, said(local)
    in_process = summary(local)
    assert in_process["metrics"] == result["metrics"]  # same config, seed and data: the same model
    assert in_process["data_sha256"] == result["data_sha256"]
    job_predictions = holdout_predictions(kube_stack.tracking_uri, model_name, result["version"])
    assert_same_model(job_predictions, holdout_predictions(kube_stack.tracking_uri, model_name, in_process["version"]))
    print(f"\nJob {job_seconds:.1f} s, in process {local_seconds:.1f} s: overhead {job_seconds - local_seconds:.1f} s")


def test_an_indexed_job_runs_4_trials_2_at_once_one_failing_and_registers_the_best_once(
    tmp_path, kube_stack, model_name
):
    config = example_config(tmp_path, model_name, search=SEARCH)
    parsed, _ = load_config_and_spec(config)
    failing = next(n for n, params in enumerate(candidates(parsed), start=1) if params["C"] < 0)
    env = env_for(tmp_path, kube_stack.description())
    with PodWatch(kube_stack.kubectl, TRAINING_NAMESPACE) as watch:
        result = run_mlops(["train", "--env", "it", "--config", str(config), "--json"], env)
    assert result.returncode == 0, said(result)
    assert "4 trials as jobs, 2 at once" in result.stderr
    assert all(f"[trial {n}] " in result.stderr for n in range(1, 5)), said(result)
    assert f"trial {failing} failed: exit code 5" in result.stderr, said(result)

    parent, trials = search_runs(kube_stack.tracking_uri, model_name)
    assert [t.info.run_name for t in trials] == ["trial-1", "trial-2", "trial-3", "trial-4"]
    assert {t.data.tags.get("mlflow.parentRunId") for t in trials} == {parent.info.run_id}
    statuses = {t.info.run_name: t.info.status for t in trials}
    assert statuses.pop(f"trial-{failing}") == "FAILED" and set(statuses.values()) == {"FINISHED"}
    failed = json.loads(parent.data.tags["search.failed_trials"])
    assert list(failed) == [str(failing)] and "InvalidParameterError" in failed[str(failing)]
    best = max((t for t in trials if t.info.status == "FINISHED"), key=lambda t: t.data.metrics["cv_roc_auc"])
    assert parent.data.params["model.C"] == best.data.params["model.C"]
    # 2 at once: two trial containers ran at the same time (their MLflow runs are too short to tell, under a
    # second each, while a container lives for its imports and fit too).
    spans = watch.running_spans()
    assert len(spans) >= 4, spans  # 4 trials and the final job that registers the best
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), spans
    _nothing_left(kube_stack)


def test_a_job_over_the_quota_is_refused_with_the_quota_named(tmp_path, kube_stack, model_name):
    config = example_config(tmp_path, model_name)
    too_big = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "3", "memory": "1536Mi"}}
    started = time.monotonic()
    refused = run_mlops(
        ["train", "--env", "it", "--config", str(config)], env_for(tmp_path, kube_stack.description(resources=too_big))
    )
    assert refused.returncode == 4, said(refused)
    assert "quota 'training'" in refused.stderr and "limits.cpu: 3 > 2" in refused.stderr, said(refused)
    assert time.monotonic() - started < 30

    # The quota's room taken by another workload: the cluster refuses the Job's pod (its FailedCreate event).
    hog = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hog", "namespace": TRAINING_NAMESPACE},
        "spec": {
            "containers": [
                {
                    "name": "hog",
                    "image": kube_stack.trainer_image,
                    "command": ["sleep", "600"],
                    "resources": {
                        "requests": {"cpu": "50m", "memory": "64Mi"},
                        "limits": {"cpu": "1500m", "memory": "1Gi"},
                    },
                }
            ]
        },
    }
    kube_stack.kubectl.checked(["apply", "-f", "-"], stdin=json.dumps(hog))
    try:
        started = time.monotonic()
        refused = run_mlops(
            ["train", "--env", "it", "--config", str(config)], env_for(tmp_path, kube_stack.description())
        )
        seconds = time.monotonic() - started
    finally:
        kube_stack.kubectl.run(["-n", TRAINING_NAMESPACE, "delete", "pod", "hog", "--grace-period=0", "--force"])
    assert refused.returncode == 4, said(refused)
    assert "exceeded quota: training" in refused.stderr and "What to do" in refused.stderr, said(refused)
    assert seconds < 60, f"refused after {seconds:.0f} s"
    _nothing_left(kube_stack)


def test_an_image_that_cannot_be_pulled_is_said_at_once(tmp_path, kube_stack, model_name):
    env = env_for(tmp_path, kube_stack.description(image="127.0.0.1:1/mlops/trainer:0000"))
    started = time.monotonic()
    result = run_mlops(["train", "--env", "it", "--config", str(example_config(tmp_path, model_name))], env)
    assert result.returncode == 4, said(result)
    assert "cannot be pulled" in result.stderr and "ErrImagePull" in result.stderr, said(result)
    assert time.monotonic() - started < 90
    _nothing_left(kube_stack)


def _train_until_running(tmp_path, kube_stack, model_name) -> subprocess.Popen[str]:
    """`mlops train` of a fit that lasts minutes as a Job, returned once its pod runs."""
    env = env_for(tmp_path, kube_stack.description())
    config = example_config(tmp_path, model_name, estimator=SLOW_FIT)
    command = mlops_command("train", "--env", "it", "--config", str(config))
    process = subprocess.Popen(command, env=env, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(
        (p.get("status") or {}).get("phase") == "Running"
        for p in (kube_stack.kubectl.get(["-n", TRAINING_NAMESPACE, "pods"]) or {}).get("items", [])
    ):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the Job's pod never ran"
        time.sleep(0.3)
    return process


def test_ctrl_c_deletes_the_job_and_its_pods(tmp_path, kube_stack, model_name):
    process = _train_until_running(tmp_path, kube_stack, model_name)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=90)
    assert process.returncode == 130, f"{stdout}\n{stderr}"
    assert "interrupted" in stderr
    _nothing_left(kube_stack)
