"""The guardrails pinned at their edges: the one root container accepted (the volume owner, every one of
its conditions), the effective user of a container, digest lengths, loopback addresses; in production the
serving replicas, the disruption budget and the tracking login; and the exact words of each finding."""

from __future__ import annotations

from typing import Any

import pytest

from infra.policy.rules.production import (
    disruption_budget_findings,
    serves_nothing_findings,
    serving_replica_findings,
    tracking_auth_findings,
)
from infra.policy.rules.resources import Finding, Resource
from infra.policy.rules.workloads import image_problem, limit_problems, port_problems, root_problems

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def owner(**changes: Any) -> dict[str, Any]:
    context = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]},
    }
    context.update(changes.pop("context", {}))
    return {
        "name": "volume-owner",
        "command": ["chown", "-R", "1000:1000", "/data"],
        "securityContext": context,
        **changes,
    }


def pod(init: list[dict[str, Any]], *, user: Any = 1000) -> dict[str, Any]:
    app = {"name": "app", "securityContext": {"runAsUser": user}}
    return {"spec": {"template": {"spec": {"initContainers": init, "containers": [app]}}}}


def test_the_volume_owner_init_container_is_the_one_root_container_accepted() -> None:
    assert root_problems(DEPLOYMENT, pod([owner()])) == []
    assert root_problems(DEPLOYMENT, pod([owner(context={"capabilities": {"drop": ["ALL"]}})])) == []
    assert root_problems(DEPLOYMENT, pod([owner(context={"capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}})])) == []


ROOT_OWNER = ["initContainers[0] 'volume-owner' sets neither runAsNonRoot: true nor a non-zero runAsUser"]


@pytest.mark.parametrize(
    "changed",
    [
        owner(name="helper"),
        owner(command=["sh", "-c", "chown 1000 /data"]),
        owner(command=[]),
        owner(context={"allowPrivilegeEscalation": None}),
        owner(context={"allowPrivilegeEscalation": True}),
        owner(context={"readOnlyRootFilesystem": False}),
        owner(context={"readOnlyRootFilesystem": None}),
        owner(context={"capabilities": {"drop": ["NET_RAW"], "add": ["CHOWN"]}}),
        owner(context={"capabilities": {"drop": ["ALL", "NET_RAW"]}}),
        owner(context={"capabilities": {"drop": ["ALL"], "add": ["CHOWN", "SYS_ADMIN"]}}),
        owner(context={"capabilities": None}),
    ],
)
def test_a_volume_owner_missing_any_condition_is_a_root_container(changed: dict[str, Any]) -> None:
    expected = [line.replace("'volume-owner'", repr(changed["name"])) for line in ROOT_OWNER]
    assert root_problems(DEPLOYMENT, pod([changed])) == expected


def test_a_volume_owner_among_the_app_containers_is_not_exempt() -> None:
    props = {"spec": {"template": {"spec": {"containers": [owner()]}}}}
    assert root_problems(DEPLOYMENT, props) == [
        "containers[0] 'volume-owner' sets neither runAsNonRoot: true nor a non-zero runAsUser"
    ]


@pytest.mark.parametrize(
    ("pod_context", "context", "problems"),
    [
        ({"runAsUser": 1000}, {}, []),
        ({"runAsNonRoot": True}, {}, []),
        ({}, {"runAsNonRoot": True}, []),
        ({"runAsUser": 0}, {"runAsUser": 1000}, []),
        ({"runAsUser": 1000}, {"runAsUser": 0}, ["containers[0] 'app' runs as user 0"]),
        ({}, {"runAsUser": "0 "}, ["containers[0] 'app' runs as user 0"]),
        ({"runAsNonRoot": True}, {"runAsUser": 0}, ["containers[0] 'app' runs as user 0"]),
        (
            {"runAsNonRoot": True},
            {"runAsNonRoot": False},
            ["containers[0] 'app' sets neither runAsNonRoot: true nor a non-zero runAsUser"],
        ),
        ({}, {}, ["containers[0] 'app' sets neither runAsNonRoot: true nor a non-zero runAsUser"]),
    ],
)
def test_the_container_context_overrides_the_pod_s(pod_context, context, problems) -> None:
    spec = {"securityContext": pod_context, "containers": [{"name": "app", "securityContext": context}]}
    assert root_problems(DEPLOYMENT, {"spec": {"template": {"spec": spec}}}) == problems


@pytest.mark.parametrize(
    ("user", "problems"),
    [
        (None, ["container runs as the image default user, not as a non-root user"]),
        ("", ["container runs as the image default user, not as a non-root user"]),
        ("root", ["container runs as root, not as a non-root user"]),
        ("0:0", ["container runs as 0:0, not as a non-root user"]),
        (" root :1000", ["container runs as  root :1000, not as a non-root user"]),
        ("1000:0", []),
        ("app", []),
    ],
)
def test_the_docker_user(user, problems) -> None:
    assert root_problems("docker:index:Container", {"kind": "docker:Container", "user": user}) == problems


def test_other_resources_have_no_containers_to_check() -> None:
    assert root_problems("kubernetes:core/v1:Service", {"spec": {}}) == []


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("r/app@sha256:" + "a" * 64, None),
        ("r/app@sha256:" + "a" * 63, "image 'r/app@sha256:{}' has a malformed digest".format("a" * 63)),
        ("r/app@sha256:" + "a" * 65, "image 'r/app@sha256:{}' has a malformed digest".format("a" * 65)),
        ("r/app@sha512:" + "a" * 64, "image 'r/app@sha512:{}' has a malformed digest".format("a" * 64)),
        ("r:5000/app", "image 'r:5000/app' has no tag, which Docker and Kubernetes resolve to :latest"),
        ("r:5000/app:1.2", None),
        ("app:latest", "image 'app:latest' uses the mutable tag :latest"),
        ("app:", "image 'app:' uses the mutable tag :latest"),
        ("  ", "has no image reference"),
        (None, "has no image reference"),
    ],
)
def test_image_references(image, problem) -> None:
    assert image_problem(image) == problem


@pytest.mark.parametrize(
    ("port", "problems"),
    [
        ({"internal": 80, "external": 8080.0, "host_ip": "127.0.0.1"}, []),
        ({"internal": 80, "host_ip": "::1"}, []),
        ({"internal": 80, "external": 8080.0}, ["port 8080 has no host_ip, so Docker publishes it on 0.0.0.0"]),
        ({"internal": 80.0}, ["port 80 has no host_ip, so Docker publishes it on 0.0.0.0"]),
        ({}, ["port ? has no host_ip, so Docker publishes it on 0.0.0.0"]),
        ({"external": 81, "host_ip": "0.0.0.0"}, ["port 81 is published on 0.0.0.0, not on a loopback address"]),
        ({"external": 81, "host_ip": "localhost"}, ["port 81 is published on localhost, not on a loopback address"]),
    ],
)
def test_published_ports(port, problems) -> None:
    assert port_problems("docker:index:Container", {"kind": "docker:Container", "ports": [port, "junk"]}) == problems


def test_docker_limits_need_a_positive_cpu_and_memory() -> None:
    def findings(limits: Any) -> list[str]:
        return limit_problems("docker:index:Container", {"kind": "docker:Container", "limits": limits})

    assert findings({"cpus": 0.5, "memory_mb": 512}) == []
    assert findings({"cpus": "1", "memory": " 512Mi "}) == []
    assert findings({"cpus": 0, "memory_mb": True}) == ["container has no cpu limit", "container has no memory limit"]
    assert findings({"cpus": "0.0", "memory_mb": " "}) == [
        "container has no cpu limit",
        "container has no memory limit",
    ]
    assert findings({"cpus": -1, "memory_mb": "0"}) == ["container has no cpu limit", "container has no memory limit"]
    assert findings(None) == ["container has no limits"]


# --- production stack rules --------------------------------------------------------------------------------


AUTH = ["mlflow", "server", "--app-name", "basic-auth"]


def docker(role: str, urn: str = "urn:c", **props: Any) -> Resource:
    return Resource(
        "docker:index:Container", urn, {"kind": "docker:Container", "labels": {"mlops.role": role}, **props}, urn
    )


def tracking_deployment(command: list[str], args: list[str], component: str = "tracking") -> Resource:
    container = {"name": "tracking", "command": command, "args": args}
    props = {
        "metadata": {"labels": {"app.kubernetes.io/component": component}},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }
    return Resource(DEPLOYMENT, "tracking", props, "urn:tracking")


def unauthenticated(name: str, urn: str) -> Finding:
    return Finding(
        f"tracking server {name!r} runs without authentication: a production stack needs "
        "mlops:tracking.auth: true (MLflow's basic-auth app)",
        urn,
    )


@pytest.mark.parametrize(
    ("command", "authenticated"),
    [
        (AUTH, True),
        (["--app-name", "basic-auth"], True),
        (["mlflow", "server", "--app-name"], False),
        (["mlflow", "server", "basic-auth", "--app-name"], False),
        (["mlflow", "server", "--app-name", "other", "basic-auth"], False),
        ([], False),
    ],
)
def test_a_production_tracking_server_must_require_a_login(command, authenticated) -> None:
    resource = docker("tracking", command=command)
    assert tracking_auth_findings([resource]) == ([] if authenticated else [unauthenticated("urn:c", "urn:c")])


def test_the_tracking_deployment_s_command_and_args_are_read_together() -> None:
    assert tracking_auth_findings([tracking_deployment(["mlflow", "server", "--app-name"], ["basic-auth"])]) == []
    assert tracking_auth_findings([tracking_deployment(["mlflow"], ["server"])]) == [
        unauthenticated("tracking", "urn:tracking")
    ]


def test_only_the_tracking_server_is_asked_for_a_login() -> None:
    assert tracking_auth_findings([docker("serving", command=["serve"])]) == []
    assert tracking_auth_findings([tracking_deployment(["serve"], [], component="serving")]) == []
    assert tracking_auth_findings([Resource("kubernetes:core/v1:Service", "s", {"metadata": {}})]) == []


def serving(name: str = "serving", replicas: Any = 2, urn: str = "urn:d", namespace: str = "prod") -> Resource:
    props = {
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/component": "serving"}},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "serving"}}}},
    }
    return Resource(DEPLOYMENT, name, props, urn)


def hpa(minimum: Any, target: str = "serving", namespace: str = "prod", kind: str = "Deployment") -> Resource:
    props = {
        "metadata": {"name": "scale", "namespace": namespace},
        "spec": {"scaleTargetRef": {"kind": kind, "name": target}, "minReplicas": minimum},
    }
    return Resource("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "scale", props)


def test_a_stack_that_serves_nothing_is_named_as_such() -> None:
    assert serves_nothing_findings([docker("tracking")]) == [
        Finding(
            "production stack serves nothing: no serving workload is planned (check mlops:serving.modelUri and "
            "that the model reference resolves)",
            "",
        )
    ]
    assert serves_nothing_findings([docker("serving")]) == []
    assert serves_nothing_findings([Resource("docker:index:Image", "i", {"labels": {"mlops.role": "serving"}})]) == [
        serves_nothing_findings([])[0]
    ]


BY_HPA = (
    "serving Deployment 'serving' can run 1 replica(s) (HorizontalPodAutoscaler 'scale'); production needs at least 2"
)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            [serving(replicas=1)],
            "serving Deployment 'serving' can run 1 replica(s) (spec.replicas); production needs at least 2",
        ),
        (
            [serving(replicas=None)],
            "serving Deployment 'serving' can run 1 replica(s) (spec.replicas); production needs at least 2",
        ),
        (
            [serving(replicas=3), hpa(1)],
            BY_HPA,
        ),
        (
            [serving(replicas=3), hpa(None)],
            BY_HPA,
        ),
        ([serving(replicas=1), hpa(2.0)], None),
        ([serving(replicas=2), hpa(1, target="other")], None),
        ([serving(replicas=2), hpa(1, namespace="dev")], None),
        ([serving(replicas=2), hpa(1, kind="StatefulSet")], None),
    ],
)
def test_serving_replicas_in_production(resources, message) -> None:
    assert serving_replica_findings(resources) == ([Finding(message, "urn:d")] if message else [])


def test_docker_serving_containers_are_counted() -> None:
    assert serving_replica_findings([docker("serving", "urn:one")]) == [
        Finding("1 serving container(s); production needs at least 2", "urn:one")
    ]
    assert serving_replica_findings([docker("serving", "urn:one"), docker("serving", "urn:two")]) == []


def pdb(spec: dict[str, Any], namespace: str = "prod") -> Resource:
    return Resource(
        "kubernetes:policy/v1:PodDisruptionBudget", "pdb", {"metadata": {"namespace": namespace}, "spec": spec}
    )


SELECTS = {"selector": {"matchLabels": {"app": "serving"}}}
NO_BUDGET = Finding("serving Deployment 'serving' has no PodDisruptionBudget selecting its pods", "urn:d")
EVICTS_ALL = Finding("the PodDisruptionBudget of serving Deployment 'serving' allows every pod to be evicted", "urn:d")


@pytest.mark.parametrize(
    ("budget", "findings"),
    [
        (pdb({**SELECTS, "minAvailable": 1}), []),
        (pdb({**SELECTS, "minAvailable": "50%"}), []),
        (pdb({**SELECTS, "maxUnavailable": 1}), []),
        (pdb({**SELECTS, "maxUnavailable": "99%"}), []),
        (pdb({**SELECTS, "minAvailable": 0}), [EVICTS_ALL]),
        (pdb({**SELECTS, "minAvailable": " 0% "}), [EVICTS_ALL]),
        (pdb({**SELECTS, "maxUnavailable": "100%"}), [EVICTS_ALL]),
        (pdb(dict(SELECTS)), [EVICTS_ALL]),
        (pdb({**SELECTS, "minAvailable": 1}, namespace="dev"), [NO_BUDGET]),
        (pdb({"selector": {"matchLabels": {"app": "other"}}, "minAvailable": 1}), [NO_BUDGET]),
        (pdb({"selector": {"matchLabels": {}}, "minAvailable": 1}), [NO_BUDGET]),
        (pdb({"selector": {}, "minAvailable": 1}), [NO_BUDGET]),
    ],
)
def test_a_disruption_budget_must_select_and_protect_the_serving_pods(budget, findings) -> None:
    assert disruption_budget_findings([serving(), budget]) == findings


def test_pods_without_labels_are_selected_by_no_budget() -> None:
    deployment = serving()
    unlabelled = Resource(deployment.type, deployment.name, {**deployment.props, "spec": {"replicas": 2}}, "urn:d")
    assert disruption_budget_findings([unlabelled, pdb({**SELECTS, "minAvailable": 1})]) == [NO_BUDGET]
