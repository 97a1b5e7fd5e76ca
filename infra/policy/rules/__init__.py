"""The guardrails as plain functions over resource inputs.

They take the property dicts the Pulumi engine hands to a policy pack (camelCase Kubernetes fields, the
docker provider's snake_case inputs) and return problem messages, so the policy pack, the mocks tests
and the rendered manifests are all checked by the same code.

What the checks recognise:

- docker containers: any resource whose `kind` input is `docker:Container` (our dynamic provider);
- Kubernetes workloads: Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and Pods;
- serving workloads: Deployments labelled `app.kubernetes.io/component: serving`, and docker containers
  whose `labels` carry `mlops.role: serving`.
"""

from infra.policy.rules.production import (
    disruption_budget_findings,
    is_serving,
    serves_nothing_findings,
    serving_replica_findings,
    tracking_auth_findings,
)
from infra.policy.rules.resources import MIN_PRODUCTION_REPLICAS, Finding, Resource
from infra.policy.rules.workloads import (
    RESOURCE_CHECKS,
    image_problem,
    image_problems,
    limit_problems,
    port_problems,
    resource_findings,
    root_problems,
)

__all__ = [
    "MIN_PRODUCTION_REPLICAS",
    "RESOURCE_CHECKS",
    "Finding",
    "Resource",
    "disruption_budget_findings",
    "image_problem",
    "image_problems",
    "is_serving",
    "limit_problems",
    "port_problems",
    "resource_findings",
    "root_problems",
    "serves_nothing_findings",
    "serving_replica_findings",
    "tracking_auth_findings",
]
