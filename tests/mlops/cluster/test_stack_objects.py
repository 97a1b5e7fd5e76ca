"""Which namespaces and kubeconfig `env down` of a cluster stack looks at, from the stack's config."""

from __future__ import annotations

import json
from types import SimpleNamespace

from mlops.cluster.stack_objects import LOCAL_KUBECONFIG, StackCluster


def test_docker_stacks_are_not_cluster_stacks() -> None:
    assert StackCluster.of("local", {"mlops:target": "docker"}) is None


def test_local_cluster_stack_from_automation_api_config() -> None:
    config = {
        "mlops:target": SimpleNamespace(value="kubernetes"),
        "mlops:kubernetes": SimpleNamespace(value=json.dumps({"cluster": "local", "namespace": "mlops-dev"})),
    }
    found = StackCluster.of("dev", config)
    assert found == StackCluster(("mlops-dev", "mlops-dev-training"), LOCAL_KUBECONFIG)


def test_own_cluster_uses_the_stacks_kubeconfig_or_the_default() -> None:
    own = {"mlops:target": "kubernetes", "mlops:kubernetes": {"training": {"namespace": "jobs"}}}
    assert StackCluster.of("qa", own) == StackCluster(("mlops-qa", "jobs"), "")
    named = {**own, "kubernetes:kubeconfig": "/etc/team/kubeconfig"}
    assert StackCluster.of("qa", named) == StackCluster(("mlops-qa", "jobs"), "/etc/team/kubeconfig")
