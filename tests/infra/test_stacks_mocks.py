"""Every stack's program under Pulumi mocks: it loads, builds what its settings ask for, and passes the policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.policy import pack, rules
from infra.settings import SettingsError
from tests.support.pulumi_mocks import ProgramRun, is_secret, run_program, stack_config, unwrap

STACKS = ("local", "dev", "staging", "prod")
KUBERNETES_STACKS = ("dev", "staging", "prod")
MODEL = "models:/breast-cancer/7"
# What a team sets with `pulumi config set --secret` (see the comments in stacks/Pulumi.<stack>.yaml).
TEAM_SECRETS = {
    "registryPassword": "registry-pass",
    "postgresPassword": "pg/pass word",
    "artifactsAccessKeyId": "AKIAEXAMPLE",
    "artifactsSecretAccessKey": "s3-secret",
}
COMPONENTS = {
    "mlops:platform:Platform",
    "mlops:registry:ContainerRegistry",
    "mlops:storage:ArtifactStore",
    "mlops:tracking:TrackingServer",
    "mlops:training:TrainingCluster",
    "mlops:serving:ServingCluster",
}
CONTRACT_OUTPUTS = {
    "target",
    "tracking_uri",
    "registry_address",
    "serving_endpoint",
    "serving_model_uri",
    "artifact_location",
    "prediction_log_uri",
    "images",
}


def secrets_for(stack: str) -> dict[str, str]:
    return {} if stack == "local" else TEAM_SECRETS


_RUNS: dict[str, ProgramRun] = {}


def program(stack: str) -> ProgramRun:
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack, stack_config(stack), secrets_for(stack), resolved_model=MODEL)
    return _RUNS[stack]


def k8s(run: ProgramRun, kind: str) -> list[dict[str, Any]]:
    """Inputs (secrets unwrapped) of the mocked Kubernetes objects of one kind, e.g. `apps/v1:Deployment`."""
    return [unwrap(r.inputs) for r in run.resources if r.typ == f"kubernetes:{kind}"]


def by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects}


def container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in obj["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return found


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def secret_data(inputs: dict[str, Any]) -> bool:
    """Whether every value of a Secret's stringData reaches the engine as a Pulumi secret."""
    data = inputs["stringData"]
    return is_secret(data) or all(is_secret(value) for value in data.values())


def policy_resources(run: ProgramRun) -> list[rules.Resource]:
    return [
        rules.Resource(r.typ, r.name, unwrap(r.inputs), f"urn:pulumi:test::mlops::{r.typ}::{r.name}")
        for r in run.resources
    ]


# -- every stack ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_program_loads_with_every_component_and_the_contract_outputs(stack: str) -> None:
    run = program(stack)
    assert run.types() >= COMPONENTS
    assert set(run.outputs) >= CONTRACT_OUTPUTS
    config = stack_config(stack)
    assert run.outputs["target"] == config["target"]
    assert run.outputs["serving_model_uri"] == config["serving"]["modelUri"]
    for role, ref in run.outputs["images"].items():
        assert rules.image_problem(ref) is None, (role, ref)


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_passes_the_resource_policies(stack: str) -> None:
    findings = {r.name: rules.resource_findings(r.type, r.props) for r in policy_resources(program(stack))}
    assert {name: f for name, f in findings.items() if f} == {}


@pytest.mark.parametrize("stack", STACKS)
def test_production_policies_hold_where_the_stack_is_production(stack: str) -> None:
    config = stack_config(stack)
    production = pack.production_flag({"mlops:production": json.dumps(config.get("production", False))}, stack)
    assert production is (stack == "prod")
    resources = policy_resources(program(stack))
    if production:
        assert rules.serving_replica_findings(resources) == []
        assert rules.disruption_budget_findings(resources) == []
        assert rules.serves_nothing_findings(resources) == []
    else:
        # Not enforced here, but the checks see the serving workload, so they would hold it to account.
        assert any(rules.is_serving(r) for r in resources)


def test_production_policies_catch_a_prod_stack_with_one_serving_replica() -> None:
    config = stack_config("prod")
    config["serving"] = {**config["serving"], "replicas": 1}
    run = run_program("prod", config, TEAM_SECRETS, resolved_model=MODEL)
    findings = rules.serving_replica_findings(policy_resources(run))
    assert len(findings) == 1 and "HorizontalPodAutoscaler" in findings[0].message


def test_the_policy_pack_refuses_a_prod_stack_that_serves_nothing() -> None:
    """Serving must never be planned away in production: a prod program without serving is refused."""
    run = run_program("prod", stack_config("prod"), TEAM_SECRETS, resolved_model="")
    resources = policy_resources(run)
    assert not any(rules.is_serving(r) for r in resources)
    assert run.outputs["serving_endpoint"] == ""
    findings = rules.serves_nothing_findings(resources)
    assert len(findings) == 1 and "serves nothing" in findings[0].message
    assert rules.serving_replica_findings(resources) == [] and rules.disruption_budget_findings(resources) == []
    assert {name: f for name, f in ((r.name, rules.resource_findings(r.type, r.props)) for r in resources) if f} == {}
    served = policy_resources(run_program("prod", stack_config("prod"), TEAM_SECRETS, resolved_model=MODEL))
    assert rules.serves_nothing_findings(served) == []


# -- kubernetes stacks: what the settings ask for ----------------------------------------------------------


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_namespaces_and_providers(stack: str) -> None:
    run = program(stack)
    ks = stack_config(stack)["kubernetes"]
    assert {n["metadata"]["name"] for n in k8s(run, "core/v1:Namespace")} == {
        ks["namespace"],
        ks["training"]["namespace"],
    }
    providers = [unwrap(r.inputs) for r in run.resources if r.typ == "pulumi:providers:kubernetes"]
    assert {p.get("namespace") for p in providers} == {None, ks["namespace"]}
    namespaced = [o for kind in ("apps/v1:Deployment", "core/v1:Service", "core/v1:Secret") for o in k8s(run, kind)]
    assert {o["metadata"]["namespace"] for o in namespaced} <= {ks["namespace"], ks["training"]["namespace"]}


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_serving_deployment_follows_the_settings(stack: str) -> None:
    run = program(stack)
    config = stack_config(stack)
    sv, ks = config["serving"], config["kubernetes"]
    deployment = by_name(k8s(run, "apps/v1:Deployment"))[f"mlops-{stack}-serving"]
    spec = deployment["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    server = container(deployment, "server")
    assert server["resources"]["limits"] == {"cpu": f"{round(sv['cpus'] * 1000)}m", "memory": f"{sv['memoryMb']}Mi"}
    assert server["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert server["livenessProbe"]["httpGet"]["path"] == "/health"
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert server["securityContext"]["runAsNonRoot"] is True
    env = env_of(server)
    assert env["MLOPS_MODEL_URI"] == MODEL
    assert env["MLFLOW_TRACKING_URI"] == run.outputs["tracking_uri_internal"]
    assert (
        env["MLOPS_PREDICTION_LOG"]
        == run.outputs["prediction_log_uri"]
        == (f"s3://{ks['artifacts']['bucket']}/predictions")
    )
    assert env["MLOPS_PREDICTION_LOG_FORMAT"] == sv["predictionLog"]["format"]
    assert float(env["MLOPS_PREDICTION_LOG_SAMPLE"]) == sv["predictionLog"]["sample"]
    assert env["MLOPS_WORKERS"] == str(sv["workers"])
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": f"mlops-{stack}-artifacts-s3", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    assert server["image"] == run.outputs["images"]["server"]

    autoscalers = k8s(run, "autoscaling/v2:HorizontalPodAutoscaler")
    assert spec["replicas"] == sv["replicas"]
    if ks["serving"]["autoscaling"]["enabled"]:
        (hpa,) = autoscalers
        assert hpa["spec"]["minReplicas"] == sv["replicas"]
        assert hpa["spec"]["maxReplicas"] == ks["serving"]["autoscaling"]["maxReplicas"]
        target = hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"]
        assert target == ks["serving"]["autoscaling"]["cpuUtilization"]
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    else:
        assert autoscalers == []
    (pdb,) = k8s(run, "policy/v1:PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == ks["serving"]["disruptionBudget"]["maxUnavailable"]
    assert pdb["spec"]["selector"] == spec["selector"]
    # The local cluster's NodePort, on this machine's loopback: where `mlops promote` smoke-tests.
    assert run.outputs["serving_endpoint"] == f"http://127.0.0.1:{ks['serving']['nodePort']}"
    assert by_name(k8s(run, "core/v1:Service"))[f"mlops-{stack}-serving"]["spec"]["type"] == "NodePort"


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_tracking_server_and_backend_store(stack: str) -> None:
    run = program(stack)
    config = stack_config(stack)
    trk, ks = config["tracking"], config["kubernetes"]
    deployment = by_name(k8s(run, "apps/v1:Deployment"))[f"mlops-{stack}-tracking"]
    mlflow = container(deployment, "mlflow")
    assert mlflow["image"] == run.outputs["images"]["tracking"]
    assert mlflow["resources"]["limits"]["memory"] == f"{trk['memoryMb']}Mi"
    args = mlflow["args"]
    assert args[args.index("--artifacts-destination") + 1] == f"s3://{ks['artifacts']['bucket']}/mlflow"
    # The stack's worker count (MLflow's own default, 4, outgrows dev's memory limit).
    assert args[args.index("--workers") + 1] == str(trk.get("workers", 1))
    assert run.outputs["artifact_location"] == f"s3://{ks['artifacts']['bucket']}/mlflow"
    claims = by_name(k8s(run, "core/v1:PersistentVolumeClaim"))
    statefulsets = k8s(run, "apps/v1:StatefulSet")
    store = by_name(k8s(run, "core/v1:Secret"))[f"mlops-{stack}-tracking-store"]
    if trk["backend"] == "sqlite":
        assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
        claim = claims[f"mlops-{stack}-tracking-data"]
        assert claim["spec"]["resources"]["requests"]["storage"] == f"{ks['tracking']['storageGi']}Gi"
        assert statefulsets == []
        assert store["stringData"]["MLOPS_BACKEND_STORE_URI"] == "sqlite:////data/mlflow.db"
    else:
        assert deployment["spec"]["replicas"] == ks["tracking"]["replicas"]
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        (postgres,) = statefulsets
        storage = postgres["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        assert storage == f"{ks['tracking']['postgresStorageGi']}Gi"
        # The password is URL-encoded into the store URI, which only ever travels as a secret.
        raw_store = next(r for r in run.resources if r.name == "mlops-tracking-store")
        assert secret_data(raw_store.inputs)
        assert store["stringData"]["MLOPS_BACKEND_STORE_URI"] == (
            f"postgresql+psycopg2://mlflow:pg%2Fpass%20word@mlops-{stack}-tracking-db.mlops-{stack}.svc.cluster.local"
            ":5432/mlflow"
        )


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_network_policies_fence_the_tracking_server_and_its_database(stack: str) -> None:
    run = program(stack)
    ks = stack_config(stack)["kubernetes"]
    policies = by_name(k8s(run, "networking.k8s.io/v1:NetworkPolicy"))
    tracking_pods = by_name(k8s(run, "apps/v1:Deployment"))[f"mlops-{stack}-tracking"]["spec"]["selector"]
    fence = policies[f"mlops-{stack}-tracking"]["spec"]
    assert fence["podSelector"] == tracking_pods
    (rule,) = fence["ingress"]
    (source,) = rule["from"]
    (expression,) = source["namespaceSelector"]["matchExpressions"]
    assert sorted(expression["values"]) == sorted([ks["namespace"], ks["training"]["namespace"]])
    if stack_config(stack)["tracking"]["backend"] == "postgres":
        db = policies[f"mlops-{stack}-tracking-db"]["spec"]
        assert db["ingress"][0]["from"] == [{"podSelector": tracking_pods}]
        (postgres,) = k8s(run, "apps/v1:StatefulSet")
        assert db["podSelector"] == postgres["spec"]["selector"]
    else:
        # The tracking server's fence, and the scheduled monitor's egress (tests/infra/test_monitoring_schedule.py).
        assert set(policies) == {f"mlops-{stack}-tracking", f"mlops-{stack}-monitor"}


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_registry_and_pull_secrets(stack: str) -> None:
    run = program(stack)
    ks = stack_config(stack)["kubernetes"]
    services = by_name(k8s(run, "core/v1:Service"))
    registry = services[f"mlops-{stack}-registry"]
    assert registry["spec"]["type"] == "NodePort"
    assert registry["spec"]["ports"][0]["nodePort"] == ks["registry"]["nodePort"]
    claim = by_name(k8s(run, "core/v1:PersistentVolumeClaim"))[f"mlops-{stack}-registry-data"]
    assert claim["spec"]["resources"]["requests"]["storage"] == f"{ks['registry']['storageGi']}Gi"
    assert run.outputs["registry_address"] == f"127.0.0.1:{ks['registry']['nodePort']}"
    pull = [s for s in k8s(run, "core/v1:Secret") if s.get("type") == "kubernetes.io/dockerconfigjson"]
    assert {s["metadata"]["namespace"] for s in pull} == {ks["namespace"], ks["training"]["namespace"]}
    auths = json.loads(pull[0]["stringData"][".dockerconfigjson"])["auths"]
    assert auths[f"127.0.0.1:{ks['registry']['nodePort']}"]["username"] == "mlops"
    for raw in (r for r in run.resources if r.typ == "kubernetes:core/v1:Secret"):
        assert secret_data(raw.inputs), raw.name
    pushed = [unwrap(r.inputs) for r in run.resources if r.inputs.get("kind") == "docker:Image" and r.inputs["push"]]
    postgres = {"postgres"} if stack_config(stack)["tracking"]["backend"] == "postgres" else set()
    assert {p["repository"].rsplit("/", 1)[1] for p in pushed} == {"tracking", "server", "trainer", *postgres}


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_training_namespace_quota_and_job_launcher(stack: str) -> None:
    run = program(stack)
    config = stack_config(stack)
    quota_cfg, trn = config["kubernetes"]["training"]["quota"], config["training"]
    (quota,) = k8s(run, "core/v1:ResourceQuota")
    hard = quota["spec"]["hard"]
    assert hard["limits.cpu"] == f"{round(quota_cfg['cpu'] * 1000)}m"
    assert hard["limits.memory"] == f"{quota_cfg['memoryGi']}Gi"
    assert hard["pods"] == str(quota_cfg["pods"]) and hard["count/jobs.batch"] == str(quota_cfg["jobs"])
    (limit_range,) = k8s(run, "core/v1:LimitRange")
    default = limit_range["spec"]["limits"][0]["default"]
    assert default == {"cpu": f"{round(trn['cpus'] * 1000)}m", "memory": f"{trn['memoryMb']}Mi"}
    (role,) = k8s(run, "rbac.authorization.k8s.io/v1:Role")
    job_rule = next(r for r in role["rules"] if r["resources"] == ["jobs"])
    assert job_rule["apiGroups"] == ["batch"] and "create" in job_rule["verbs"]
    assert all(r["resources"] != ["secrets"] for r in role["rules"])
    (binding,) = k8s(run, "rbac.authorization.k8s.io/v1:RoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "launcher", "namespace": config["kubernetes"]["training"]["namespace"]}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    accounts = by_name(k8s(run, "core/v1:ServiceAccount"))
    assert accounts["trainer"]["automountServiceAccountToken"] is False
    job = run.outputs["training"]
    assert job["namespace"] == config["kubernetes"]["training"]["namespace"]
    assert job["service_account"] == "trainer" and job["launcher_service_account"] == "launcher"
    assert job["image"] == run.outputs["images"]["trainer"]
    assert job["limits"] == {"cpus": trn["cpus"], "memory_mb": trn["memoryMb"]}


def test_sizes_grow_toward_prod() -> None:
    def serving_cpu(stack: str) -> float:
        deployment = by_name(k8s(program(stack), "apps/v1:Deployment"))[f"mlops-{stack}-serving"]
        return float(container(deployment, "server")["resources"]["limits"]["cpu"].rstrip("m"))

    assert serving_cpu("dev") < serving_cpu("staging") < serving_cpu("prod")
    hpas = {s: k8s(program(s), "autoscaling/v2:HorizontalPodAutoscaler") for s in KUBERNETES_STACKS}
    assert hpas["dev"] == []
    assert hpas["staging"][0]["spec"]["maxReplicas"] < hpas["prod"][0]["spec"]["maxReplicas"]


@pytest.mark.parametrize("missing", ["artifactsSecretAccessKey", "registryPassword", "postgresPassword"])
def test_a_missing_team_secret_stops_the_program_with_the_command_to_set_it(missing: str) -> None:
    given = {k: v for k, v in TEAM_SECRETS.items() if k != missing}
    with pytest.raises(SettingsError) as err:
        run_program("prod", stack_config("prod"), given, resolved_model=MODEL)
    message = str(err.value)
    assert "stack 'prod'" in message and f"mlops:{missing}" in message and "--secret" in message
