"""The tracking server's login reaches a job as a file, never as a value in its spec; and the `training` output
the real program exports (dev, under Pulumi mocks) drives the Kubernetes launcher, login Secret included."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV
from ml.jobs.kubernetes_manifests import job_manifest
from ml.jobs.request import SECRETS_DIR, JobRequest
from ml.jobs.spec import JobSpecError, TrainingJobSpec
from mlops.jobs.docker import container_kwargs
from mlops.jobs.job_login import login_for_job
from tests.mlops.jobs.job_cli import env_for, example_config, run_mlops, said, summary
from tests.mlops.jobs.test_docker_spec import OUTPUT as DOCKER_OUTPUT
from tests.mlops.jobs.test_kubernetes_spec import OUTPUT as KUBE_OUTPUT
from tests.support.pulumi_mocks import run_program, stack_config, unwrap

TEAM_SECRETS = {
    "registryPassword": "registry-pass",
    "postgresPassword": "pg-pass",
    "artifactsAccessKeyId": "AKIAEXAMPLE",
    "artifactsSecretAccessKey": "s3-secret",
    "trackingPassword": "tracking-pass-123",
}


def test_a_docker_job_reads_the_password_from_a_private_file(tmp_path):
    spec = TrainingJobSpec.from_output("local-prod", DOCKER_OUTPUT)
    private = tmp_path / "secrets"
    private.mkdir()
    env, files = login_for_job(("admin", "s3cret"), spec, private)
    assert env == {
        TRACKING_USERNAME_ENV: "admin",
        TRACKING_PASSWORD_FILE_ENV: f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}",
    }
    path = files[TRACKING_PASSWORD_FILE]
    assert path.read_text() == "s3cret" and stat.S_IMODE(private.stat().st_mode) == 0o700
    request = JobRequest("j", ["--json"], tmp_path, env=env, secret_files=files)
    kwargs = container_kwargs(spec, request)
    assert kwargs["volumes"][str(path)] == {"bind": f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}", "mode": "ro"}
    assert "s3cret" not in repr(kwargs)


def test_no_login_means_nothing_is_handed_over(tmp_path):
    assert login_for_job(None, TrainingJobSpec.from_output("local", DOCKER_OUTPUT), tmp_path) == ({}, {})


def test_a_kubernetes_output_without_the_login_secret_is_refused_before_anything_starts(tmp_path):
    spec = TrainingJobSpec.from_output("dev", KUBE_OUTPUT)
    with pytest.raises(JobSpecError, match="mlops env up dev"):
        login_for_job(("admin", "s3cret"), spec, tmp_path)


def test_the_dev_programs_training_output_runs_a_job_with_the_login_mounted(tmp_path):
    run = run_program("dev", stack_config("dev"), TEAM_SECRETS, resolved_model="models:/breast-cancer/7")
    output = unwrap(run.outputs["training"])
    spec = TrainingJobSpec.from_output("dev", output)
    kube = spec.kubernetes
    assert kube is not None and kube.tracking_login is not None and kube.s3 is not None
    secrets = {
        r.inputs["metadata"]["name"]: unwrap(r.inputs)
        for r in run.resources
        if r.typ == "kubernetes:core/v1:Secret" and r.inputs["metadata"].get("namespace") == kube.namespace
    }
    assert secrets[kube.tracking_login.secret]["stringData"] == {"password": "tracking-pass-123"}
    assert set(secrets[kube.s3.secret]["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert kube.kubeconfig == "/var/lib/mlops-cluster/admin.kubeconfig" and kube.backoff_limit == 0

    (tmp_path / "train.yaml").write_text("x: 1\n")
    job = job_manifest(spec, JobRequest("train-m-1", ["--json"], Path(tmp_path)))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[TRACKING_USERNAME_ENV] == kube.tracking_login.username
    assert env[TRACKING_PASSWORD_FILE_ENV] == f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}"
    assert "tracking-pass-123" not in repr(job) and "s3-secret" not in repr(job)
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tracking-login"]["secret"]["secretName"] == kube.tracking_login.secret
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.integration
def test_a_docker_job_reads_its_login_file_for_real(tmp_path, docker_stack, model_name):
    # The test server runs no basic auth and ignores the header: what is checked is that the container's
    # non-root user reads the mounted file (ml.tracking_auth fails the job when it cannot).
    description = {**docker_stack.description(), "tracking_login": ["admin", "s3cret"]}
    config = example_config(tmp_path, model_name)
    result = run_mlops(
        ["train", "--env", docker_stack.name, "--config", str(config), "--json"], env_for(tmp_path, description)
    )
    assert result.returncode == 0, said(result)
    assert summary(result)["version"] == "1"
