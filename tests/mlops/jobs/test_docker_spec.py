"""Pure parts of the docker job: the stack's `training` output -> job spec -> container create arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import LABEL_PROJECT, LABEL_ROLE, LABEL_STACK
from ml.jobs.request import JobRequest, job_args
from ml.jobs.spec import (
    LABEL_JOB,
    TAG_JOB_IMAGE,
    TAG_JOB_NAME,
    JobSpecError,
    TrainingJobSpec,
    job_labels,
    job_name,
    job_tags,
)
from mlops.jobs.docker import container_kwargs, scratch_volume_name

OUTPUT = {
    "target": "docker",
    "image": "127.0.0.1:5501/mlops-local/trainer:0123456789abcdef0123",
    "tracking_uri": "http://mlops-local-tracking:5000",
    "limits": {"cpus": 1.5, "memory_mb": 2048},
    "network": "mlops-local",
    "labels": {LABEL_STACK: "local", LABEL_PROJECT: "mlops-platform"},
    "user": "10001:10001",
}


def _spec(**changes: object) -> TrainingJobSpec:
    return TrainingJobSpec.from_output("local", {**OUTPUT, **changes})


def _request(spec: TrainingJobSpec, files: Path) -> JobRequest:
    name = job_name(spec, "Breast Cancer!", suffix="abcd1234")
    return JobRequest(name=name, args=job_args(spec, None), files=files, labels=job_labels(spec, name))


def test_the_output_becomes_a_typed_spec():
    spec = _spec()
    assert (spec.image, spec.network, spec.user) == (OUTPUT["image"], "mlops-local", "10001:10001")
    assert (spec.limits.cpus, spec.limits.memory_mb) == (1.5, 2048)


@pytest.mark.parametrize(
    ("output", "needle"),
    [
        (None, "exports no `training` job spec"),
        ({**OUTPUT, "image": ""}, "lacks image"),
        ({k: v for k, v in OUTPUT.items() if k != "limits"}, "lacks limits"),
        ({**OUTPUT, "limits": {"cpus": "many"}}, "malformed"),
        ({**OUTPUT, "target": "nomad"}, "has no job launcher"),
        ({**OUTPUT, "target": "kubernetes"}, "lacks namespace"),
    ],
)
def test_an_unusable_output_names_what_is_wrong_and_what_to_run(output, needle):
    with pytest.raises(JobSpecError, match=needle) as err:
        TrainingJobSpec.from_output("local", output)
    if output:
        assert "mlops env up local" in str(err.value)


def test_the_container_gets_the_stacks_limits_network_user_and_a_locked_down_filesystem(tmp_path):
    spec = _spec()
    request = _request(spec, tmp_path)
    kwargs = container_kwargs(spec, request)
    assert kwargs["image"] == OUTPUT["image"]
    assert kwargs["network"] == "mlops-local"
    assert kwargs["user"] == "10001:10001"
    assert kwargs["nano_cpus"] == 1_500_000_000
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == "2048m"
    assert kwargs["read_only"] is True
    assert kwargs["cap_drop"] == ["ALL"]
    assert "no-new-privileges" in kwargs["security_opt"]
    assert "/tmp" in kwargs["tmpfs"]
    assert kwargs["volumes"] == {
        scratch_volume_name(request): {"bind": "/work", "mode": "rw"},
        str(tmp_path): {"bind": "/job", "mode": "ro"},
    }
    assert kwargs["environment"]["HOME"] == kwargs["environment"]["TMPDIR"] == "/work"


def test_the_container_carries_the_stack_labels_its_role_and_its_own_job_label(tmp_path):
    spec = _spec()
    request = _request(spec, tmp_path)
    labels = container_kwargs(spec, request)["labels"]
    assert labels[LABEL_STACK] == "local" and labels[LABEL_PROJECT] == "mlops-platform"
    assert labels[LABEL_ROLE] == "training-job"
    assert labels[LABEL_JOB] == request.name == "mlops-local-train-breast-cancer-abcd1234"


def test_the_job_talks_to_the_stacks_internal_tracking_server_and_prints_json(tmp_path):
    spec = _spec()
    args = container_kwargs(spec, _request(spec, tmp_path))["command"]
    assert args[args.index("--tracking-uri") + 1] == "http://mlops-local-tracking:5000"
    assert args[args.index("--config") + 1] == "/job/train.yaml"
    assert args[args.index("--job") + 1] == "/job/job.json"
    assert "--json" in args and "--s3-endpoint" not in args
    assert job_args(spec, "http://minio:9000")[-2:] == ["--s3-endpoint", "http://minio:9000"]


def test_job_names_are_unique_container_names_and_tags_name_the_job_and_image():
    spec = _spec()
    first, second = job_name(spec, "m"), job_name(spec, "m")
    assert first != second and first.startswith("mlops-local-train-m-")
    assert job_tags(spec, first) == {TAG_JOB_NAME: first, TAG_JOB_IMAGE: OUTPUT["image"]}
