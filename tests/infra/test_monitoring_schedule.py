"""`mlops:monitoring.schedule`: validated with the stack, and turned into a CronJob (kubernetes) or a scheduler
container (docker) that runs `python -m ml.monitor`. The program runs under Pulumi mocks."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from contract import monitor_env
from infra import settings
from infra.policy import rules
from infra.settings import SettingsError
from infra.settings.sections import MONITOR_THRESHOLD_KEYS
from tests.support.pulumi_mocks import ProgramRun, is_secret, run_program, stack_config, unwrap

pytestmark = pytest.mark.usefixtures("kubernetes_schemas_read_once")

MODEL = "models:/breast-cancer/7"
TEAM_SECRETS = {
    "registryPassword": "registry-pass",
    "postgresPassword": "pg-pass",
    "artifactsAccessKeyId": "AKIAEXAMPLE",
    "artifactsSecretAccessKey": "s3-secret",
}


def parse(stack: str, **monitoring: Any) -> settings.Settings:
    raw = stack_config(stack)
    raw["monitoring"] = {**raw.get("monitoring", {}), **monitoring}
    given = {key: pulumi.Output.secret("x") for key in settings.SECRET_KEYS}
    return settings.parse(stack, "mlops-platform", raw, given)


# -- the setting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "wrong"),
    [
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7 or sun-sat"),
        ("0 * * *", "has 4 field(s), not 5"),
        ("@hourly", "is a macro"),
    ],
)
def test_a_bad_schedule_names_the_stack_the_key_the_field_and_an_example(schedule: str, wrong: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse("prod", schedule=schedule)
    message = str(caught.value)
    assert caught.value.keys == ("mlops:monitoring.schedule",)
    assert message.startswith(f"stack 'prod': config 'mlops:monitoring.schedule' = '{schedule}' is not a cron")
    assert wrong in message and "e.g. '0 * * * *' (hourly)" in message


def test_a_schedule_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        parse("dev", schedule=15)
    assert caught.value.key == "mlops:monitoring.schedule" and "= 15 is not allowed" in str(caught.value)


def test_a_schedule_needs_a_model_to_monitor() -> None:
    raw = stack_config("local")
    raw["serving"] = {**raw["serving"], "modelUri": ""}
    raw["monitoring"] = {**raw["monitoring"], "schedule": "0 * * * *"}
    with pytest.raises(SettingsError) as caught:
        settings.parse("local", "mlops-platform", raw, {})
    assert caught.value.key == "mlops:monitoring.schedule" and "names no model to monitor" in str(caught.value)


def test_no_schedule_is_off_and_the_other_keys_are_accepted_not_parsed() -> None:
    local = settings.parse("local", "mlops-platform", stack_config("local"), {})
    assert local.monitoring.schedule == "" and not local.monitoring.scheduled
    s = parse("prod", schedule=" 0 * * * * ".strip(), promoteTo="staging", anything={"the": "operator's"})
    assert s.monitoring.schedule == "0 * * * *"
    # Only the thresholds travel to the scheduled monitor: never a webhook secret or the operator's keys.
    assert set(s.monitoring.thresholds) <= set(MONITOR_THRESHOLD_KEYS)
    assert s.monitoring.thresholds["psiThreshold"] == stack_config("prod")["monitoring"]["psiThreshold"]


# -- kubernetes: the CronJob ----------------------------------------------------------------------------


def k8s(run: ProgramRun, kind: str) -> dict[str, dict[str, Any]]:
    objects = [unwrap(r.inputs) for r in run.resources if r.typ == f"kubernetes:{kind}"]
    return {o["metadata"]["name"]: o for o in objects}


def scheduled(stack: str, schedule: str) -> dict[str, Any]:
    config = stack_config(stack)
    config["monitoring"] = {**config.get("monitoring", {}), "schedule": schedule}
    return config


@pytest.fixture(scope="module")
def prod() -> ProgramRun:
    return run_program("prod", scheduled("prod", "0 * * * *"), TEAM_SECRETS, resolved_model=MODEL)


def test_prod_runs_the_monitor_as_a_cronjob_on_its_schedule(prod: ProgramRun) -> None:
    job = k8s(prod, "batch/v1:CronJob")["mlops-prod-monitor"]
    assert job["metadata"]["namespace"] == "mlops-prod"
    spec = job["spec"]
    assert spec["schedule"] == "0 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"] == "Etc/UTC"
    assert spec["successfulJobsHistoryLimit"] == 3 and spec["failedJobsHistoryLimit"] == 3
    assert spec["startingDeadlineSeconds"] == 300
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == prod.outputs["images"]["trainer"]
    assert container["command"] == ["python", "-m", "ml.monitor"] and "args" not in container
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env[monitor_env.MODEL_URI_ENV] == MODEL
    assert env[monitor_env.TRACKING_URI_ENV] == prod.outputs["tracking_uri_internal"]
    assert env[monitor_env.PREDICTION_LOG_ENV] == prod.outputs["prediction_log_uri"]
    thresholds = json.loads(env[monitor_env.THRESHOLDS_ENV])
    assert thresholds == {k: v for k, v in stack_config("prod")["monitoring"].items() if k in MONITOR_THRESHOLD_KEYS}
    # Credentials by reference or as files only: no secret value in the CronJob.
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "mlops-prod-artifacts-s3", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    assert env["MLOPS_TRACKING_USERNAME"] == "mlops"
    assert env["MLOPS_TRACKING_PASSWORD_FILE"].endswith("/tracking-password")
    assert "s3-secret" not in json.dumps(job)
    login = k8s(prod, "core/v1:Secret")["mlops-prod-monitor-tracking-login"]
    raw_login = next(r for r in prod.resources if r.name.endswith("monitoring-tracking-login"))
    data = raw_login.inputs["stringData"]
    assert is_secret(data) or is_secret(data["password"])
    assert login["metadata"]["namespace"] == "mlops-prod" and set(login["stringData"]) == {"password"}


def test_the_monitor_pod_is_locked_down_like_the_other_pods(prod: ProgramRun) -> None:
    job = k8s(prod, "batch/v1:CronJob")["mlops-prod-monitor"]
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    serving = k8s(prod, "apps/v1:Deployment")["mlops-prod-serving"]["spec"]["template"]["spec"]
    assert pod["securityContext"] == serving["securityContext"]
    assert pod["containers"][0]["securityContext"] == serving["containers"][0]["securityContext"]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "1000m", "memory": "1024Mi"}
    # The policy pack's per-resource rules know CronJobs: limits, non-root, pinned image.
    assert rules.resource_findings("kubernetes:batch/v1:CronJob", job) == {}


def test_the_monitor_account_has_no_token_and_no_role(prod: ProgramRun) -> None:
    account = k8s(prod, "core/v1:ServiceAccount")["mlops-prod-monitor"]
    pod = k8s(prod, "batch/v1:CronJob")["mlops-prod-monitor"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "mlops-prod-monitor"
    assert account["automountServiceAccountToken"] is False
    bindings = [*k8s(prod, "rbac.authorization.k8s.io/v1:RoleBinding").values()]
    bindings += [*k8s(prod, "rbac.authorization.k8s.io/v1:ClusterRoleBinding").values()]
    subjects = [s["name"] for b in bindings for s in b.get("subjects", [])]
    assert subjects and "mlops-prod-monitor" not in subjects


def test_the_monitor_reaches_the_tracking_server_s3_and_dns_only(prod: ProgramRun) -> None:
    policy = k8s(prod, "networking.k8s.io/v1:NetworkPolicy")["mlops-prod-monitor"]["spec"]
    pod_labels = k8s(prod, "batch/v1:CronJob")["mlops-prod-monitor"]["spec"]["jobTemplate"]["spec"]["template"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels["metadata"]["labels"].items()
    assert policy["policyTypes"] == ["Ingress", "Egress"] and policy["ingress"] == []
    tracking_pods = k8s(prod, "apps/v1:Deployment")["mlops-prod-tracking"]["spec"]["selector"]["matchLabels"]
    tracking, s3, dns = policy["egress"]
    assert tracking == {
        "to": [{"podSelector": {"matchLabels": tracking_pods}}],
        "ports": [{"protocol": "TCP", "port": 5000}],
    }
    # The local cluster's S3 (moto on the pod bridge's gateway): that address and port only.
    assert s3 == {"to": [{"ipBlock": {"cidr": "10.244.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 9000}]}
    assert {p["port"] for p in dns["ports"]} == {53}


def test_an_s3_endpoint_by_name_is_reached_on_its_port() -> None:
    config = scheduled("staging", "15 */2 * * *")
    config["kubernetes"] = {
        **config["kubernetes"],
        "cluster": "external",
        "images": {"registry": "ghcr.io/acme/registry:2.8.3"},
        "artifacts": {**config["kubernetes"]["artifacts"], "endpoint": "https://s3.eu-west-1.amazonaws.com"},
    }
    run = run_program("staging", config, TEAM_SECRETS, resolved_model=MODEL)
    _, s3, _ = k8s(run, "networking.k8s.io/v1:NetworkPolicy")["mlops-staging-monitor"]["spec"]["egress"]
    assert s3 == {"ports": [{"protocol": "TCP", "port": 443}]}


def test_nothing_is_scheduled_without_a_schedule_or_a_served_model() -> None:
    config = stack_config("dev")
    config["monitoring"] = {k: v for k, v in config["monitoring"].items() if k != "schedule"}
    unscheduled = run_program("dev", config, TEAM_SECRETS, resolved_model=MODEL)
    nothing_served = run_program("dev", scheduled("dev", "0 */6 * * *"), TEAM_SECRETS, resolved_model="")
    for run in (unscheduled, nothing_served):
        assert k8s(run, "batch/v1:CronJob") == {}
        assert "mlops-dev-monitor" not in k8s(run, "core/v1:ServiceAccount")
        assert "mlops:monitoring:MonitoringSchedule" not in run.types()


# -- docker: the scheduler container ----------------------------------------------------------------------


def test_docker_runs_a_scheduler_container_of_the_stack() -> None:
    run = run_program("local", scheduled("local", "*/30 * * * *"), resolved_model="models:/breast-cancer/3")
    containers = {c["name"]: c for c in run.of_kind("docker:Container")}
    monitor = containers["mlops-local-monitor"]
    tracking = containers["mlops-local-tracking"]
    assert monitor["image"] == run.outputs["images"]["trainer"]
    assert monitor["entrypoint"] == ["python", "-m", "ml.monitor"]
    assert monitor["command"] == ["--every", "*/30 * * * *"]
    assert monitor["restart"] == "unless-stopped" and monitor["read_only"] is True
    assert monitor["labels"] == {**tracking["labels"], "mlops.role": "monitor"}
    assert monitor["network"] == tracking["network"] and monitor["user"] == "10001:10001"
    assert monitor["ports"] == []
    assert monitor["env"][monitor_env.TRACKING_URI_ENV] == run.outputs["tracking_uri_internal"]
    assert monitor["env"][monitor_env.MODEL_URI_ENV] == "models:/breast-cancer/3"
    log_dir = run.outputs["prediction_log_uri"].removeprefix("file://")
    (log_mount,) = [m for m in monitor["mounts"] if m["type"] == "bind"]
    assert log_mount["source"] == log_dir and log_mount["read_only"] is True
    assert monitor["env"][monitor_env.PREDICTION_LOG_ENV] == f"file://{log_mount['target']}"
    assert json.loads(monitor["env"][monitor_env.THRESHOLDS_ENV])["psiThreshold"] == 0.25
    assert rules.resource_findings("pulumi-python:dynamic:Resource", monitor) == {}
    # Every other container keeps its image's entrypoint (and existing state stays as it was).
    assert all("entrypoint" not in c for name, c in containers.items() if name != "mlops-local-monitor")


def test_docker_hands_the_scheduler_the_tracking_login_as_a_file() -> None:
    run = run_program("local-prod", scheduled("local-prod", "0 * * * *"), resolved_model=MODEL)
    (monitor,) = [c for c in run.of_kind("docker:Container") if c["name"] == "mlops-local-prod-monitor"]
    assert monitor["env"]["MLOPS_TRACKING_PASSWORD_FILE"].endswith("/tracking-password")
    assert set(monitor["secret_files"]) == {"tracking-password"}
    assert not any("password" in key.lower() and "FILE" not in key for key in monitor["env"])
