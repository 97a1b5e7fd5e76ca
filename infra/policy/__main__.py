"""Entry point the Pulumi CLI runs for `pulumi preview --policy-pack infra/policy`."""

from __future__ import annotations

import os

import pulumi.runtime
from pulumi_policy import PolicyPack

from infra.policy.pack import PACK_NAME, enforcement, follow_stack_configuration, policies, production_flag

# Older CLIs pass the stack's config in the environment; current ones send it in ConfigureStack.
stack = os.environ.get("PULUMI_STACK", "<unknown>")
production = production_flag(pulumi.runtime.get_config_env(), stack)
pack_policies = policies(production)
follow_stack_configuration(pack_policies)

PolicyPack(name=PACK_NAME, enforcement_level=enforcement(production), policies=pack_policies)
