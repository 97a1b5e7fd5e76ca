"""The loop's secrets of a stack (the webhook's, the GitHub token), decrypted by Pulumi from the stack file's
`secure:` values, like the other secrets the operator reads from a stack; never printed, never passed on the
command line."""

from __future__ import annotations

from typing import Any

from ml.monitor.loop_policy import GITHUB_TOKEN_KEY, SECRET_KEY, SET_GITHUB_TOKEN, SET_SECRET
from mlops.project import EnvironmentUnavailable


def secret_of(env: str, stack: Any, key: str = SECRET_KEY, set_command: str = SET_SECRET) -> str:
    """The secret `key` of a selected stack (`pulumi.automation.Stack`); EnvironmentUnavailable names the fix."""
    from pulumi import automation as auto

    try:
        value = stack.get_config(key, path=True)
    except auto.errors.CommandError as exc:
        raise EnvironmentUnavailable(
            f"stack '{env}': cannot read {key} ({str(exc).strip()[-300:]}); set it with `{set_command}`"
        ) from exc
    if not value.value:
        raise EnvironmentUnavailable(f"stack '{env}': {key} is empty; set it with `{set_command}`")
    return str(value.value)


def read_webhook_secret(env: str) -> str:
    from mlops.stacks import select_stack

    return secret_of(env, select_stack(env, create=False, deploying=False))


def read_github_token(env: str) -> str:
    from mlops.stacks import select_stack

    return secret_of(env, select_stack(env, create=False, deploying=False), GITHUB_TOKEN_KEY, SET_GITHUB_TOKEN)
