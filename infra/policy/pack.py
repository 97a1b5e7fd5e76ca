"""The policies of the `mlops-guardrails` pack and how strict they are for a stack.

How strict: the pack reads the same `mlops:production` flag the program reads, from the configuration
of the stack being previewed, which the Pulumi CLI hands to policy packs - in the analyzer's
`ConfigureStack` call (current CLIs) or in the `PULUMI_CONFIG` environment (older ones). A production
stack gets every policy as `mandatory` (a violation fails `pulumi preview` and `pulumi up`); any other
stack gets them as `advisory` (reported, never blocking), and the production-only checks (serving
replicas, PodDisruptionBudget, serving something at all, a tracking login) are disabled there. A team can
still override one policy with `--policy-pack-config`, which Pulumi applies on top of these levels.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as sdk

from infra.policy import rules

PACK_NAME = "mlops-guardrails"
PRODUCTION_KEY = "mlops:production"
PRODUCTION_ONLY = (
    "production-serving-replicas",
    "production-disruption-budget",
    "production-serves-a-model",
    "production-tracking-auth",
)

_DESCRIPTIONS = {
    "docker-ports-on-loopback": "Docker containers publish ports on a loopback address only, never 0.0.0.0.",
    "images-pinned": "Container images are pinned to a tag other than :latest, or to a digest.",
    "workload-resource-limits": "Every workload container has a CPU and a memory limit.",
    "containers-non-root": "Containers run as a non-root user.",
    "production-serving-replicas": f"Production serving keeps at least {rules.MIN_PRODUCTION_REPLICAS} replicas.",
    "production-disruption-budget": "Production serving Deployments have a PodDisruptionBudget.",
    "production-serves-a-model": "A production stack always serves a model: an update never plans serving away.",
    "production-tracking-auth": "A production stack's tracking server requires a login (MLflow's basic-auth app).",
}


class StackConfigError(ValueError):
    """The stack's production flag cannot be read; names the stack, the key and what is allowed."""


def production_flag(config: Mapping[str, str], stack: str) -> bool:
    """`mlops:production` from the engine's config map (values are JSON-ish strings); absent means false."""
    raw = config.get(PRODUCTION_KEY)
    if raw is None:
        return False
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(value, bool):
        return value
    raise StackConfigError(
        f"stack '{stack}': config '{PRODUCTION_KEY}' = {raw!r} is not allowed; allowed: true | false"
    )


def enforcement(production: bool) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if production else EnforcementLevel.ADVISORY


def _resource_validation(check: Callable[[str, Mapping[str, Any]], list[str]]) -> Any:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for problem in check(args.resource_type, args.props):
            report_violation(problem, None)

    return validate


def _stack_validation(check: Callable[[list[rules.Resource]], list[rules.Finding]]) -> Any:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [rules.Resource(r.resource_type, r.name, r.props, r.urn) for r in args.resources]
        for finding in check(resources):
            report_violation(finding.message, finding.urn or None)

    return validate


def apply_levels(policies: list[Policy], production: bool) -> None:
    """Set each policy's enforcement level for a production or a non-production stack."""
    for policy in policies:
        if policy.name in PRODUCTION_ONLY:
            policy.enforcement_level = EnforcementLevel.MANDATORY if production else EnforcementLevel.DISABLED
        else:
            policy.enforcement_level = enforcement(production)


def policies(production: bool) -> list[Policy]:
    """Every policy of the pack, at the levels of a production or a non-production stack."""
    result: list[Policy] = [
        ResourceValidationPolicy(name=name, description=_DESCRIPTIONS[name], validate=_resource_validation(check))
        for name, check in rules.RESOURCE_CHECKS.items()
    ]
    stack_checks = {
        "production-serving-replicas": rules.serving_replica_findings,
        "production-disruption-budget": rules.disruption_budget_findings,
        "production-serves-a-model": rules.serves_nothing_findings,
        "production-tracking-auth": rules.tracking_auth_findings,
    }
    result += [
        StackValidationPolicy(name=name, description=_DESCRIPTIONS[name], validate=_stack_validation(stack_check))
        for name, stack_check in stack_checks.items()
    ]
    apply_levels(result, production)
    return result


def follow_stack_configuration(pack_policies: list[Policy]) -> None:
    """Re-level `pack_policies` when the engine sends the previewed stack's configuration.

    The policy SDK keeps only the stack's tags from that call, so the pack extends the handler; the
    engine makes the call before it asks for any analysis.
    """
    servicer = sdk._PolicyAnalyzerServicer
    handle_stack = servicer.ConfigureStack

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        apply_levels(pack_policies, production_flag(dict(request.config), request.stack or "<unknown>"))
        return handle_stack(self, request, context)

    servicer.ConfigureStack = configure_stack  # type: ignore[method-assign, assignment]
