"""`mlops` with its environments read from a JSON file (`MLOPS_TEST_LOOP_ENVIRONMENTS`) instead of Pulumi.

The loop test starts what the environments would have (a docker environment's network, tracking server
and trainer image; a target's tracking server) and describes them as their stacks' outputs and config
would. Stood in for: reading a stack (outputs, plain config, the decrypted webhook secret and GitHub token)
and the target's `pulumi up` (`tests.mlops.loop.serving`). Everything else is the real CLI.
Run as `python -m tests.mlops.loop.env_cli monitor --env NAME ...`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlops import deployer, stacks
from mlops.loop import stack_secret
from mlops.project import EnvironmentUnavailable

ENV_FILE = "MLOPS_TEST_LOOP_ENVIRONMENTS"


def _described(name: str) -> dict[str, Any]:
    environments = json.loads(Path(os.environ[ENV_FILE]).read_text())
    if name not in environments:
        raise EnvironmentUnavailable(f"Environment '{name}' has never been brought up: run `mlops env up {name}`.")
    return dict(environments[name])


def _resolve(name: str) -> stacks.Environment:
    data = _described(name)
    return stacks.Environment(name=name, outputs=data["outputs"], config=data["config"])


def _stack_config(name: str) -> dict[str, Any]:
    return dict(_described(name)["config"])


def _webhook_secret(name: str) -> str:
    secret = _described(name).get("webhook_secret")
    if not secret:
        raise EnvironmentUnavailable(f"stack '{name}': no webhook secret is described for it")
    return str(secret)


def _github_token(name: str) -> str:
    token = _described(name).get("github_token")
    if not token:
        raise EnvironmentUnavailable(f"stack '{name}': no GitHub token is described for it")
    return str(token)


class _Deployer:
    """`StackDeployer(env, say)` of a described environment: a `mlops serve` process in its work directory."""

    def __new__(cls, env: str, say: Any) -> Any:
        from tests.mlops.loop.serving import ServeDeployer

        data = _described(env)
        return ServeDeployer(data["outputs"]["tracking_uri"], Path(data["serving_workdir"]))


if __name__ == "__main__":
    stacks.resolve = _resolve
    stacks.stack_config = _stack_config
    stack_secret.read_webhook_secret = _webhook_secret
    stack_secret.read_github_token = _github_token
    deployer.StackDeployer = _Deployer  # type: ignore[misc,assignment]
    from mlops.cli import main

    main()
