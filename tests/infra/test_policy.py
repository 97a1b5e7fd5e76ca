"""The guardrail policies, checked on resource inputs shaped as the Pulumi engine hands them over."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationPolicy,
    StackValidationPolicy,
    _PolicyAnalyzerServicer,
)

from infra.policy import pack, rules

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PINNED = "registry.example:5000/mlops/server:sha-0123456789ab"


def container(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "server",
        "image": PINNED,
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
    }
    base.update(overrides)
    return base


def deployment(
    *containers: dict[str, Any],
    name: str = "serving",
    replicas: int | None = 2,
    component: str = "serving",
    namespace: str = "mlops",
    pod_context: Any = None,
) -> dict[str, Any]:
    pod_labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": pod_labels},
        "template": {"metadata": {"labels": pod_labels}, "spec": {"containers": list(containers or [container()])}},
    }
    if pod_context is not None:
        spec["template"]["spec"]["securityContext"] = pod_context
    if replicas is not None:
        spec["replicas"] = replicas
    return {"metadata": {"name": name, "namespace": namespace, "labels": dict(pod_labels)}, "spec": spec}


def docker_container(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "docker:Container",
        "name": "mlops-local-tracking",
        "image": "mlops-tracking:0123456789ab",
        "ports": [{"internal": 5000, "external": 5500, "host_ip": "127.0.0.1"}],
        "limits": {"cpus": 1.0, "memory_mb": 2048},
        "user": "10001:10001",
    }
    base.update(overrides)
    return base


def pdb(selector: dict[str, str], namespace: str = "mlops", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "serving", "namespace": namespace},
        "spec": {"selector": {"matchLabels": selector}, **(spec or {"minAvailable": 1})},
    }


def hpa(target: str, minimum: int, namespace: str = "mlops") -> dict[str, Any]:
    return {
        "metadata": {"name": target, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": minimum,
            "maxReplicas": 6,
        },
    }


SERVING_SELECTOR = {"app.kubernetes.io/name": "serving", "app.kubernetes.io/component": "serving"}


# -- images -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        PINNED,
        "mlops-server:0123456789ab",
        "127.0.0.1:5501/mlops/server:3f2a",
        "ghcr.io/acme/server@sha256:" + "a" * 64,
    ],
)
def test_pinned_images_pass(image: str) -> None:
    assert rules.image_problem(image) is None


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("mlops-server:latest", ":latest"),
        ("mlops-server", "no tag"),
        ("127.0.0.1:5501/mlops/server", "no tag"),
        ("ghcr.io/acme/server@sha256:abc", "malformed digest"),
        ("", "no image"),
        (None, "no image"),
    ],
)
def test_unpinned_images_fail(image: Any, why: str) -> None:
    problem = rules.image_problem(image)
    assert problem is not None and why in problem


def test_image_policy_reads_every_container_of_a_workload() -> None:
    props = deployment(container(), container(name="sidecar", image="busybox"))
    props["spec"]["template"]["spec"]["initContainers"] = [container(name="migrate", image="mlflow:latest")]
    problems = rules.image_problems(DEPLOYMENT, props)
    assert len(problems) == 2
    assert any("'sidecar'" in p and "no tag" in p for p in problems)
    assert any("'migrate'" in p and ":latest" in p for p in problems)


def test_image_policy_covers_cronjob_pod_template_and_docker() -> None:
    cron = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [container(image="x:latest")]}}}}}}
    assert rules.image_problems("kubernetes:batch/v1:CronJob", cron)
    assert rules.image_problems("pulumi-python:dynamic:Resource", docker_container(image="registry:latest"))
    assert rules.image_problems("pulumi-python:dynamic:Resource", docker_container()) == []
    # Not a workload: nothing to check.
    assert rules.image_problems("kubernetes:core/v1:Service", {"spec": {"ports": []}}) == []


# -- docker ports -------------------------------------------------------------------------------------


@pytest.mark.parametrize("host_ip", ["127.0.0.1", "127.0.0.2", "::1"])
def test_loopback_ports_pass(host_ip: str) -> None:
    props = docker_container(ports=[{"internal": 5000, "external": 5500, "host_ip": host_ip}])
    assert rules.port_problems("pulumi-python:dynamic:Resource", props) == []


@pytest.mark.parametrize(
    ("port", "why"),
    [
        ({"internal": 5000, "external": 5500, "host_ip": "0.0.0.0"}, "0.0.0.0"),
        ({"internal": 5000, "external": 5500, "host_ip": "::"}, "not on a loopback"),
        ({"internal": 5000, "external": 5500, "host_ip": "192.168.1.10"}, "not on a loopback"),
        ({"internal": 5000, "external": 5500}, "no host_ip"),
        ({"internal": 5000, "external": 5500, "host_ip": ""}, "no host_ip"),
    ],
)
def test_ports_off_loopback_fail(port: dict[str, Any], why: str) -> None:
    props = docker_container(ports=[{"internal": 80, "external": 8080, "host_ip": "127.0.0.1"}, port])
    problems = rules.port_problems("pulumi-python:dynamic:Resource", props)
    assert len(problems) == 1 and why in problems[0] and "5500" in problems[0]


def test_port_policy_ignores_other_docker_kinds() -> None:
    network = {"kind": "docker:Network", "ports": [{"internal": 1, "host_ip": "0.0.0.0"}]}
    assert rules.port_problems("pulumi-python:dynamic:Resource", network) == []


# -- limits ---------------------------------------------------------------------------------------------


def test_limits_on_every_container_pass() -> None:
    assert rules.limit_problems(DEPLOYMENT, deployment()) == []
    assert rules.limit_problems("pulumi-python:dynamic:Resource", docker_container()) == []


def test_missing_limits_fail_per_container_and_kind() -> None:
    no_memory = container(name="a", resources={"limits": {"cpu": "1"}})
    no_limits = container(name="b", resources={"requests": {"cpu": "1", "memory": "1Gi"}})
    zero = container(name="c", resources={"limits": {"cpu": "0", "memory": "1Gi"}})
    problems = rules.limit_problems("kubernetes:apps/v1:StatefulSet", deployment(no_memory, no_limits, zero))
    assert sorted(problems) == sorted(
        [
            "containers[0] 'a' has no memory limit",
            "containers[1] 'b' has no cpu limit",
            "containers[1] 'b' has no memory limit",
            "containers[2] 'c' has no cpu limit",
        ]
    )


def test_job_without_limits_fails() -> None:
    job = {"spec": {"template": {"spec": {"containers": [{"name": "train", "image": PINNED}]}}}}
    assert len(rules.limit_problems("kubernetes:batch/v1:Job", job)) == 2


@pytest.mark.parametrize(
    ("limits", "count"),
    [
        (None, 1),
        ({}, 2),
        ({"cpus": 1.0}, 1),
        ({"memory_mb": 512, "cpus": 0}, 1),
    ],
)
def test_docker_containers_without_limits_fail(limits: Any, count: int) -> None:
    props = docker_container(limits=limits)
    assert len(rules.limit_problems("pulumi-python:dynamic:Resource", props)) == count


# -- non-root -------------------------------------------------------------------------------------------


def test_non_root_from_pod_or_container_context_passes() -> None:
    pod_level = deployment(container(securityContext={}), pod_context={"runAsNonRoot": True})
    assert rules.root_problems(DEPLOYMENT, pod_level) == []
    user_only = deployment(container(securityContext={"runAsUser": 999}))
    assert rules.root_problems(DEPLOYMENT, user_only) == []


@pytest.mark.parametrize(
    ("context", "pod_context", "why"),
    [
        ({}, None, "neither"),
        ({"runAsUser": 0}, {"runAsNonRoot": True}, "user 0"),
        ({"runAsNonRoot": False}, {"runAsNonRoot": True}, "neither"),
        ({}, {"runAsUser": 0, "runAsNonRoot": True}, "user 0"),
    ],
)
def test_root_containers_fail(context: dict[str, Any], pod_context: Any, why: str) -> None:
    props = deployment(container(securityContext=context), pod_context=pod_context)
    problems = rules.root_problems(DEPLOYMENT, props)
    assert len(problems) == 1 and why in problems[0]


@pytest.mark.parametrize(
    ("user", "ok"),
    [
        ("10001:10001", True),
        ("mlflow", True),
        ("root", False),
        ("0", False),
        ("0:0", False),
        (None, False),
        ("", False),
    ],
)
def test_docker_user(user: Any, ok: bool) -> None:
    problems = rules.root_problems("pulumi-python:dynamic:Resource", docker_container(user=user))
    assert (problems == []) is ok


# -- production: serving replicas and disruption budget -------------------------------------------------


def res(type_: str, props: dict[str, Any], name: str = "r") -> rules.Resource:
    return rules.Resource(type_, name, props, f"urn:pulumi:prod::mlops::{type_}::{name}")


HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"


def test_serving_replicas_from_deployment_or_autoscaler() -> None:
    assert rules.serving_replica_findings([res(DEPLOYMENT, deployment(replicas=3))]) == []
    one = rules.serving_replica_findings([res(DEPLOYMENT, deployment(replicas=1), "srv")])
    assert len(one) == 1 and "1 replica" in one[0].message and one[0].urn.endswith("::srv")
    # Without spec.replicas Kubernetes runs one pod unless an autoscaler says otherwise.
    unset = deployment(replicas=None)
    assert len(rules.serving_replica_findings([res(DEPLOYMENT, unset)])) == 1
    assert rules.serving_replica_findings([res(DEPLOYMENT, unset), res(HPA, hpa("serving", 2))]) == []
    low = rules.serving_replica_findings([res(DEPLOYMENT, deployment(replicas=4)), res(HPA, hpa("serving", 1))])
    assert len(low) == 1 and "HorizontalPodAutoscaler" in low[0].message


def test_serving_replicas_ignore_other_deployments_and_a_stack_that_serves_nothing_yet() -> None:
    tracking = res(DEPLOYMENT, deployment(name="tracking", component="tracking", replicas=1))
    assert rules.serving_replica_findings([tracking]) == []
    assert rules.disruption_budget_findings([tracking]) == []


def test_serving_replicas_count_docker_serving_containers() -> None:
    replica = docker_container(labels={"mlops.role": "serving"})
    dyn = "pulumi-python:dynamic:Resource"
    assert len(rules.serving_replica_findings([res(dyn, replica, "s0")])) == 1
    assert rules.serving_replica_findings([res(dyn, replica, "s0"), res(dyn, replica, "s1")]) == []


def test_disruption_budget_must_select_the_serving_pods() -> None:
    serving = res(DEPLOYMENT, deployment())
    assert rules.disruption_budget_findings([serving, res(PDB, pdb(SERVING_SELECTOR))]) == []
    assert (
        rules.disruption_budget_findings(
            [serving, res(PDB, pdb({"app.kubernetes.io/component": "serving"}, maxUnavailable=1))]
        )
        == []
    )
    missing = rules.disruption_budget_findings([serving])
    assert len(missing) == 1 and "no PodDisruptionBudget" in missing[0].message
    other_pods = rules.disruption_budget_findings([serving, res(PDB, pdb({"app.kubernetes.io/name": "tracking"}))])
    assert len(other_pods) == 1
    other_namespace = rules.disruption_budget_findings([serving, res(PDB, pdb(SERVING_SELECTOR, "other"))])
    assert len(other_namespace) == 1
    useless = rules.disruption_budget_findings([serving, res(PDB, pdb(SERVING_SELECTOR, minAvailable=0))])
    assert len(useless) == 1 and "every pod" in useless[0].message


# -- the pack: production flag and enforcement ------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, False),
        ({"mlops:production": "true"}, True),
        ({"mlops:production": "false"}, False),
        ({"mlops:target": '"kubernetes"'}, False),
    ],
)
def test_production_flag(config: dict[str, str], expected: bool) -> None:
    assert pack.production_flag(config, "prod") is expected


@pytest.mark.parametrize("raw", ["yes", "1", '"true"', "{}"])
def test_bad_production_flag_names_stack_key_and_allowed(raw: str) -> None:
    with pytest.raises(pack.StackConfigError) as err:
        pack.production_flag({"mlops:production": raw}, "prod")
    message = str(err.value)
    assert "'prod'" in message and "mlops:production" in message and "true | false" in message


def test_levels_mandatory_in_production_advisory_elsewhere_production_checks_disabled() -> None:
    for production in (True, False):
        by_name = {p.name: p for p in pack.policies(production)}
        assert set(by_name) == {*rules.RESOURCE_CHECKS, *pack.PRODUCTION_ONLY}
        for name in pack.PRODUCTION_ONLY:
            assert isinstance(by_name[name], StackValidationPolicy)
            expected = EnforcementLevel.MANDATORY if production else EnforcementLevel.DISABLED
            assert by_name[name].enforcement_level is expected
        for name in rules.RESOURCE_CHECKS:
            assert isinstance(by_name[name], ResourceValidationPolicy)
            assert by_name[name].enforcement_level is pack.enforcement(production)
    assert pack.enforcement(True) is EnforcementLevel.MANDATORY
    assert pack.enforcement(False) is EnforcementLevel.ADVISORY


def test_apply_levels_relevels_existing_policies() -> None:
    policies = pack.policies(False)
    pack.apply_levels(policies, True)
    assert {p.enforcement_level for p in policies} == {EnforcementLevel.MANDATORY}
    pack.apply_levels(policies, False)
    assert {p.name for p in policies if p.enforcement_level is EnforcementLevel.DISABLED} == set(pack.PRODUCTION_ONLY)


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def test_resource_policies_report_through_the_sdk_callbacks() -> None:
    by_name = {p.name: p for p in pack.policies(True)}
    bad = docker_container(ports=[{"internal": 5000, "external": 5500, "host_ip": "0.0.0.0"}], user="root")
    args = ResourceValidationArgs("pulumi-python:dynamic:Resource", bad, "urn:x", "tracking", _options(), None)
    reported: dict[str, list[str]] = {}
    for name in rules.RESOURCE_CHECKS:
        policy = by_name[name]
        assert isinstance(policy, ResourceValidationPolicy)
        policy.validate(args, lambda message, urn, n=name: reported.setdefault(n, []).append(message))
    assert set(reported) == {"docker-ports-on-loopback", "containers-non-root"}


def test_stack_policies_report_through_the_sdk_callbacks() -> None:
    by_name = {p.name: p for p in pack.policies(True)}
    resources = [
        PolicyResource(DEPLOYMENT, deployment(replicas=1), "urn:dep", "serving", _options(), None, None, [], {})
    ]
    args = StackValidationArgs(resources)
    for name in pack.PRODUCTION_ONLY:
        policy = by_name[name]
        assert isinstance(policy, StackValidationPolicy)
        seen: list[tuple[str, Any]] = []
        policy.validate(args, lambda message, urn, seen=seen: seen.append((message, urn)))
        if name == "production-serves-a-model":
            # The stack serves (one replica): nothing to report; a stack with no serving is reported stack-wide.
            assert seen == []
            policy.validate(StackValidationArgs([]), lambda message, urn, seen=seen: seen.append((message, urn)))
            assert len(seen) == 1 and seen[0][1] is None and "serves nothing" in seen[0][0]
        elif name == "production-tracking-auth":
            # No tracking server among the resources: nothing to check; an unauthenticated one is blamed.
            assert seen == []
            open_tracking = PolicyResource(
                DEPLOYMENT,
                deployment(container(name="mlflow", args=["--port", "5000"]), name="tracking", component="tracking"),
                "urn:tracking",
                "tracking",
                _options(),
                None,
                None,
                [],
                {},
            )
            policy.validate(
                StackValidationArgs([open_tracking]), lambda message, urn, seen=seen: seen.append((message, urn))
            )
            assert len(seen) == 1 and seen[0][1] == "urn:tracking" and "without authentication" in seen[0][0]
        else:
            assert len(seen) == 1 and seen[0][1] == "urn:dep"


def _servicer(production: bool) -> _PolicyAnalyzerServicer:
    return _PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", pack.policies(production), pack.enforcement(production))


def _analyze(servicer: _PolicyAnalyzerServicer, type_: str, props: dict[str, Any]) -> list[Any]:
    properties = struct_pb2.Struct()
    json_format.ParseDict(props, properties)
    request = analyzer_pb2.AnalyzeRequest(
        type=type_, urn=f"urn:pulumi:s::p::{type_}::x", name="x", properties=properties
    )
    return list(servicer.Analyze(request, None).diagnostics)


LEVEL = {True: analyzer_pb2.MANDATORY, False: analyzer_pb2.ADVISORY}


@pytest.mark.parametrize("production", [True, False])
def test_analyzer_reports_violations_mandatory_in_production_advisory_elsewhere(production: bool) -> None:
    bad = deployment(container(image="server:latest", resources={}, securityContext={}))
    diagnostics = _analyze(_servicer(production), DEPLOYMENT, bad)
    assert {d.policyName for d in diagnostics} == {"images-pinned", "workload-resource-limits", "containers-non-root"}
    assert {d.enforcementLevel for d in diagnostics} == {LEVEL[production]}
    assert _analyze(_servicer(production), DEPLOYMENT, deployment()) == []


@pytest.mark.parametrize("production", [True, False])
def test_analyzer_runs_production_stack_policies_only_in_production(production: bool) -> None:
    properties = struct_pb2.Struct()
    json_format.ParseDict(deployment(replicas=1), properties)
    request = analyzer_pb2.AnalyzeStackRequest(
        resources=[analyzer_pb2.AnalyzerResource(type=DEPLOYMENT, urn="urn:dep", name="serving", properties=properties)]
    )
    diagnostics = list(_servicer(production).AnalyzeStack(request, None).diagnostics)
    if production:
        # It serves (one replica, no budget): the replica and budget checks fire, not "serves nothing" (nor the
        # tracking login: there is no tracking server among these resources).
        assert {d.policyName for d in diagnostics} == set(pack.PRODUCTION_ONLY) - {
            "production-serves-a-model",
            "production-tracking-auth",
        }
        assert {d.enforcementLevel for d in diagnostics} == {analyzer_pb2.MANDATORY}
        idle = analyzer_pb2.AnalyzeStackRequest(resources=[])
        refused = list(_servicer(production).AnalyzeStack(idle, None).diagnostics)
        assert [(d.policyName, d.enforcementLevel) for d in refused] == [
            ("production-serves-a-model", analyzer_pb2.MANDATORY)
        ]
    else:
        assert diagnostics == []
        idle = analyzer_pb2.AnalyzeStackRequest(resources=[])
        assert list(_servicer(production).AnalyzeStack(idle, None).diagnostics) == []


def test_rules_do_not_mutate_inputs() -> None:
    props = deployment(container(image="x"))
    before = copy.deepcopy(props)
    rules.resource_findings(DEPLOYMENT, props)
    assert props == before
