"""The stack's webhook secret, decrypted by Pulumi from the stack file's `secure:` value, like the other
secrets the operator reads from a stack; never printed, never passed on the command line."""

from __future__ import annotations

from typing import Any

from ml.monitor.loop_policy import SECRET_KEY, SET_SECRET
from mlops.project import EnvironmentUnavailable


def webhook_secret_of(env: str, stack: Any) -> str:
    """The secret of a selected stack (`pulumi.automation.Stack`); EnvironmentUnavailable names the fix."""
    from pulumi import automation as auto

    try:
        value = stack.get_config(SECRET_KEY, path=True)
    except auto.errors.CommandError as exc:
        raise EnvironmentUnavailable(
            f"stack '{env}': cannot read {SECRET_KEY} ({str(exc).strip()[-300:]}); set it with `{SET_SECRET}`"
        ) from exc
    if not value.value:
        raise EnvironmentUnavailable(f"stack '{env}': {SECRET_KEY} is empty; set it with `{SET_SECRET}`")
    return str(value.value)


def read_webhook_secret(env: str) -> str:
    from mlops.stacks import select_stack

    return webhook_secret_of(env, select_stack(env, create=False, deploying=False))
