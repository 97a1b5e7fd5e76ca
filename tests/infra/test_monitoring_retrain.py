"""`mlops:monitoring.retrain.trainConfig` on a kubernetes stack with a schedule: the program renders what the
monitor's pod needs to start a retraining Job (`ml.jobs.scheduled.RetrainSetup`) and gives its ServiceAccount a
Role in the training namespace that creates Jobs and nothing more. The program runs under Pulumi mocks."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from contract import monitor_env
from infra.components.kubernetes import monitoring_retrain
from tests.support.paths import EXAMPLES
from tests.support.pulumi_mocks import ProgramRun, run_program, stack_config, unwrap

pytestmark = pytest.mark.usefixtures("kubernetes_schemas_read_once")

MODEL = "models:/breast-cancer/7"
SECRETS = {"registryPassword": "r", "artifactsAccessKeyId": "AKIAEXAMPLE", "artifactsSecretAccessKey": "s3-secret"}
TRAIN_CONFIG = EXAMPLES / "breast_cancer" / "train.yaml"


def k8s(run: ProgramRun, kind: str) -> dict[str, dict[str, Any]]:
    objects = [unwrap(r.inputs) for r in run.resources if r.typ == f"kubernetes:{kind}"]
    return {o["metadata"]["name"]: o for o in objects}


WEBHOOK = "https://hooks.example.com:8443/x"
WEBHOOK_SECRET = "hmac-key-never-in-the-pod-spec"


def dev(*, secret_monitoring: bool = False, **monitoring: Any) -> ProgramRun:
    """The dev stack with `monitoring` merged in; `secret_monitoring`: the whole key marked secret, as Pulumi marks
    it when a value inside it was set with `--secret --path`."""
    config = stack_config("dev")
    merged = {**config["monitoring"], **monitoring}
    if not secret_monitoring:
        return run_program("dev", {**config, "monitoring": merged}, SECRETS, resolved_model=MODEL)
    config.pop("monitoring")
    return run_program("dev", config, {**SECRETS, "monitoring": json.dumps(merged)}, resolved_model=MODEL)


RETRAIN = {
    "retrain": {"onDrift": True, "trainConfig": str(TRAIN_CONFIG)},
    "labels": "s3://bucket/labels",
    "promoteTo": "staging",
}


@pytest.fixture(scope="module")
def retraining() -> ProgramRun:
    return dev(**RETRAIN)


@pytest.fixture(scope="module")
def announcing() -> ProgramRun:
    return dev(
        secret_monitoring=True,
        **RETRAIN,
        promotionRequest={"webhookUrl": WEBHOOK, "attempts": 2, "github": {"repository": "acme/ml"}},
        webhookSecret=WEBHOOK_SECRET,
        githubToken={"secure": "v1:the-operators"},
    )


def _pod(run: ProgramRun) -> dict[str, Any]:
    cron = k8s(run, "batch/v1:CronJob")["mlops-dev-monitor"]
    return dict(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def test_the_retrain_setup_is_the_training_output_and_the_models_files(retraining: ProgramRun) -> None:
    files = k8s(retraining, "core/v1:ConfigMap")["mlops-dev-monitor-retrain"]
    assert files["metadata"]["namespace"] == "mlops-dev"
    data = files["data"]
    setup = json.loads(data[monitor_env.RETRAIN_SETUP_FILE])
    assert setup == {"environment": "dev", "training": retraining.outputs["training"]}
    config = yaml.safe_load(data[monitor_env.RETRAIN_TRAIN_CONFIG])
    assert config["dataset"] == monitor_env.RETRAIN_DATASET_SPEC and config["model_name"] == "breast-cancer"
    assert data[monitor_env.RETRAIN_DATASET_SPEC] == (EXAMPLES / "breast_cancer" / "dataset.yaml").read_text()


def test_the_monitor_may_create_jobs_in_the_training_namespace_and_nothing_else(retraining: ProgramRun) -> None:
    role = k8s(retraining, "rbac.authorization.k8s.io/v1:Role")["mlops-dev-monitor-retrain"]
    assert role["metadata"]["namespace"] == "mlops-dev-training"
    assert role["rules"] == [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
    ]
    binding = k8s(retraining, "rbac.authorization.k8s.io/v1:RoleBinding")["mlops-dev-monitor-retrain"]
    assert binding["metadata"]["namespace"] == "mlops-dev-training"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mlops-dev-monitor", "namespace": "mlops-dev"}]
    bound_to_monitor = [
        b
        for b in k8s(retraining, "rbac.authorization.k8s.io/v1:RoleBinding").values()
        if any(s["name"] == "mlops-dev-monitor" for s in b["subjects"])
    ]
    assert bound_to_monitor == [binding]


def test_the_monitor_pod_mounts_its_token_and_the_setup_and_waits_for_the_job(retraining: ProgramRun) -> None:
    pod = _pod(retraining)
    assert pod["automountServiceAccountToken"] is True
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[monitor_env.RETRAIN_DIR_ENV] == monitoring_retrain.MOUNT
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == monitoring_retrain.MOUNT)
    assert mount["readOnly"] is True
    sent = json.loads(env[monitor_env.THRESHOLDS_ENV])
    assert sent["retrain"]["onDrift"] is True and sent["promoteTo"] == "staging" and sent["labels"]
    assert "webhookSecret" not in sent and "promotionRequest" not in sent
    assert monitor_env.WEBHOOK_SECRET_FILE_ENV not in env
    cron = k8s(retraining, "batch/v1:CronJob")["mlops-dev-monitor"]
    training_deadline = retraining.outputs["training"]["active_deadline_seconds"]
    assert cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 1800 + training_deadline
    policy = k8s(retraining, "networking.k8s.io/v1:NetworkPolicy")["mlops-dev-monitor"]
    assert {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]} in policy["spec"]["egress"]


def test_without_a_train_config_the_monitor_has_no_token_and_no_role() -> None:
    run = dev()
    assert _pod(run)["automountServiceAccountToken"] is False
    assert "mlops-dev-monitor-retrain" not in k8s(run, "rbac.authorization.k8s.io/v1:Role")
    assert "mlops-dev-monitor-retrain" not in k8s(run, "core/v1:ConfigMap")


def test_a_train_config_that_cannot_be_read_names_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception, match=r"mlops:monitoring.retrain.trainConfig = .*missing.yaml"):
        dev(retrain={"trainConfig": str(tmp_path / "missing.yaml")})


def test_a_webhook_secret_is_mounted_from_a_secret_of_the_monitors_own(announcing: ProgramRun) -> None:
    secret = k8s(announcing, "core/v1:Secret")["mlops-dev-monitor-webhook"]
    assert secret["metadata"]["namespace"] == "mlops-dev"
    assert secret["stringData"] == {monitoring_retrain.WEBHOOK_FILE: WEBHOOK_SECRET}
    pod = _pod(announcing)
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    path = f"{monitoring_retrain.WEBHOOK_MOUNT}/{monitoring_retrain.WEBHOOK_FILE}"
    assert env[monitor_env.WEBHOOK_SECRET_FILE_ENV] == path
    sent = json.loads(env[monitor_env.THRESHOLDS_ENV])
    # The GitHub dispatch is the operator's route (its token never reaches the pod), the webhook the pod's.
    assert sent["promotionRequest"] == {"webhookUrl": WEBHOOK, "attempts": 2} and "webhookSecret" not in sent
    assert "githubToken" not in sent
    assert WEBHOOK_SECRET not in json.dumps(k8s(announcing, "batch/v1:CronJob"))
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == monitoring_retrain.WEBHOOK_MOUNT)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert mount["readOnly"] is True and volume["secret"]["secretName"] == "mlops-dev-monitor-webhook"
    policy = k8s(announcing, "networking.k8s.io/v1:NetworkPolicy")["mlops-dev-monitor"]
    assert {"ports": [{"protocol": "TCP", "port": 8443}]} in policy["spec"]["egress"]


def test_a_webhook_without_its_secret_is_refused_with_the_command_that_sets_it() -> None:
    with pytest.raises(Exception, match=r"mlops:monitoring.webhookSecret.*pulumi config set --secret --path"):
        dev(**RETRAIN, promotionRequest={"webhookUrl": WEBHOOK})


def test_a_webhook_secret_in_plain_text_is_refused() -> None:
    with pytest.raises(Exception, match=r"mlops:monitoring.webhookSecret.*is set in plain text"):
        dev(**RETRAIN, promotionRequest={"webhookUrl": WEBHOOK}, webhookSecret="in-the-clear")


def test_without_a_schedule_the_program_asks_for_no_webhook_secret() -> None:
    """The webhook is then the operator's (`mlops monitor --retrain` reads the secret from the stack file)."""
    config = stack_config("dev")
    monitoring = {k: v for k, v in config["monitoring"].items() if k != "schedule"}
    config["monitoring"] = {**monitoring, **RETRAIN, "promotionRequest": {"webhookUrl": WEBHOOK}}
    run = run_program("dev", config, SECRETS, resolved_model=MODEL)
    assert k8s(run, "batch/v1:CronJob") == {} and "mlops-dev-monitor-webhook" not in k8s(run, "core/v1:Secret")
