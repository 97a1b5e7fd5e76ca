"""Entry point the Pulumi CLI runs for `pulumi preview --policy-pack infra/policy`."""

from __future__ import annotations

import os

import pulumi.runtime
from pulumi_policy import PolicyPack

from infra.policy.pack import PACK_NAME, enforcement, policies, production_flag

stack = os.environ.get("PULUMI_STACK", "<unknown>")
production = production_flag(pulumi.runtime.get_config_env(), stack)

PolicyPack(
    name=PACK_NAME,
    enforcement_level=enforcement(production),
    policies=policies(production),
)
