"""The tracking server's login, wired under Pulumi mocks on both targets: MLflow's basic-auth app on every
non-local stack, the admin password a Pulumi secret that reaches the tracking server and the model servers as a
file (a docker secret file, a Kubernetes Secret volume) and never as an environment variable or an argument,
and the login exported as a secret stack output; `local` runs none of it; production without it is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV, Outputs
from infra.policy import rules
from tests.infra.test_stacks_mocks import TEAM_SECRETS, k8s, policy_resources
from tests.support.pulumi_mocks import ProgramRun, is_secret, run_program, stack_config

MODEL = "models:/breast-cancer/7"
GENERATED = "x" * 32  # what the mocks give a RandomSecret
SECRETS_DIR = "/run/mlops-secrets"


def run(stack: str, secrets: dict[str, str] | None = None, **tracking: Any) -> ProgramRun:
    config = stack_config(stack)
    config["tracking"] = {**config["tracking"], **tracking}
    return run_program(
        stack,
        config,
        secrets if secrets is not None else ({} if stack.startswith("local") else TEAM_SECRETS),
        resolved_model=MODEL,
    )


def containers(result: ProgramRun, role: str) -> list[dict[str, Any]]:
    return [c for c in result.of_kind("docker:Container") if c["labels"].get("mlops.role") == role]


def no_password_in_plain_sight(values: Any, password: str) -> None:
    assert password not in json.dumps(values), "the password is in an environment variable or an argument"


def test_local_prod_tracking_server_runs_basic_auth_with_the_password_as_a_file() -> None:
    result = run("local-prod")
    (tracking,) = containers(result, "tracking")
    assert tracking["command"][:2] == ["--app-name", "basic-auth"]
    assert tracking["env"][TRACKING_USERNAME_ENV] == "mlops"
    assert tracking["env"][TRACKING_PASSWORD_FILE_ENV] == f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}"
    assert tracking["secret_files"][TRACKING_PASSWORD_FILE] == GENERATED
    no_password_in_plain_sight([tracking["env"], tracking["command"]], GENERATED)
    # The generated config goes to a tmpfs of its own, never to a volume.
    assert {"type": "tmpfs", "source": "", "target": tracking["env"]["MLOPS_AUTH_CONFIG_DIR"]} in tracking["mounts"]
    (raw,) = [r.inputs for r in result.resources if r.inputs.get("name") == tracking["name"]]
    assert is_secret(raw["secret_files"])


def test_local_prod_replicas_download_the_model_with_the_login_as_a_file() -> None:
    result = run("local-prod")
    replicas = containers(result, "serving")
    assert len(replicas) == 2
    for replica in replicas:
        assert replica["env"][TRACKING_USERNAME_ENV] == "mlops"
        assert replica["env"][TRACKING_PASSWORD_FILE_ENV] == f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}"
        assert replica["secret_files"] == {TRACKING_PASSWORD_FILE: GENERATED}
        no_password_in_plain_sight([replica["env"], replica.get("command")], GENERATED)


def test_the_login_is_a_secret_output_and_a_configured_password_wins_over_the_generated_one() -> None:
    result = run("local-prod", {"trackingPassword": "team-chosen"})
    assert containers(result, "tracking")[0]["secret_files"][TRACKING_PASSWORD_FILE] == "team-chosen"
    assert not [r for r in result.resources if r.name == "mlops-tracking-password"]
    generated = run("local-prod")
    assert [r for r in generated.resources if r.name == "mlops-tracking-password"]
    assert generated.outputs[Outputs.TRACKING_CREDENTIALS] == {"username": "mlops", "password": GENERATED}


def test_local_runs_no_login_and_exports_none() -> None:
    result = run("local")
    (tracking,) = containers(result, "tracking")
    assert "--app-name" not in tracking["command"]
    assert TRACKING_PASSWORD_FILE not in (tracking.get("secret_files") or {})
    assert all(TRACKING_USERNAME_ENV not in c["env"] for c in containers(result, "serving"))
    assert result.outputs[Outputs.TRACKING_CREDENTIALS] == {}
    assert not [r for r in result.resources if r.name == "mlops-tracking-password"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_kubernetes_tracking_and_serving_get_the_login_from_secret_volumes(stack: str) -> None:
    result = run(stack)
    (tracking,) = [d for d in k8s(result, "apps/v1:Deployment") if d["metadata"]["name"] == f"mlops-{stack}-tracking"]
    pod = tracking["spec"]["template"]["spec"]
    (mlflow,) = pod["containers"]
    assert mlflow["args"][:2] == ["--app-name", "basic-auth"]
    env = {e["name"]: e.get("value") for e in mlflow["env"]}
    assert env[TRACKING_USERNAME_ENV] == "mlops"
    assert env[TRACKING_PASSWORD_FILE_ENV] == f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}"
    store = next(v for v in pod["volumes"] if v["name"] == "store")
    assert {"key": "MLOPS_TRACKING_PASSWORD", "path": TRACKING_PASSWORD_FILE} in store["secret"]["items"]
    auth_dir = next(v for v in pod["volumes"] if v["name"] == "auth-config")
    assert auth_dir["emptyDir"]["medium"] == "Memory"
    secrets = {s["metadata"]["name"]: s for s in k8s(result, "core/v1:Secret")}
    assert secrets[f"mlops-{stack}-tracking-store"]["stringData"]["MLOPS_TRACKING_PASSWORD"] == GENERATED
    no_password_in_plain_sight([mlflow["env"], mlflow["args"]], GENERATED)

    (serving,) = [d for d in k8s(result, "apps/v1:Deployment") if d["metadata"]["name"] == f"mlops-{stack}-serving"]
    spec = serving["spec"]["template"]["spec"]
    (server,) = spec["containers"]
    server_env = {e["name"]: e.get("value") for e in server["env"]}
    assert server_env[TRACKING_PASSWORD_FILE_ENV] == f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}"
    login = next(v for v in spec["volumes"] if v["name"] == "tracking-login")
    assert login["secret"]["secretName"] == f"mlops-{stack}-serving-tracking-login"
    assert login["secret"]["items"] == [{"key": "password", "path": TRACKING_PASSWORD_FILE}]
    assert {"name": "tracking-login", "mountPath": SECRETS_DIR, "readOnly": True} in server["volumeMounts"]
    assert secrets[f"mlops-{stack}-serving-tracking-login"]["stringData"] == {"password": GENERATED}
    no_password_in_plain_sight([server["env"]], GENERATED)


@pytest.mark.parametrize("stack", ["local-prod", "prod"])
def test_production_stacks_pass_the_tracking_login_policy_and_fail_it_with_auth_off(stack: str) -> None:
    assert rules.tracking_auth_findings(policy_resources(run(stack))) == []
    findings = rules.tracking_auth_findings(policy_resources(run(stack, auth=False)))
    assert len(findings) == 1 and "mlops:tracking.auth: true" in findings[0].message
