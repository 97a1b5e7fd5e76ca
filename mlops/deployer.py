"""The target environment's stack as a `Deployer`: the serving model reference is stack config."""

from __future__ import annotations

from collections.abc import Callable

from mlops.stacks import select_stack, set_stack_config, stack_config


class RolloutFailed(RuntimeError):
    """`pulumi up` of the target failed or left no serving endpoint."""


class StackDeployer:
    def __init__(self, env: str, say: Callable[[str], None]) -> None:
        self.env = env
        self.say = say

    def model_uri(self) -> str:
        serving = stack_config(self.env).get("serving") or {}
        return str(serving.get("modelUri") or "")

    def set_model_uri(self, uri: str) -> None:
        if uri != self.model_uri():
            set_stack_config(self.env, "serving.modelUri", uri)
            self.say(f"stack {self.env}: mlops:serving.modelUri = {uri}")

    def roll_out(self) -> str:
        from pulumi import automation as auto

        try:
            # Refreshed like `mlops env up`: a container removed behind Pulumi's back is recreated.
            result = select_stack(self.env, create=False).up(on_output=self.say, refresh=True)
        except auto.errors.CommandError as exc:
            raise RolloutFailed(f"pulumi up of {self.env} failed: {str(exc)[-1500:]}") from exc
        endpoint = result.outputs.get("serving_endpoint")
        if endpoint is None or not endpoint.value:
            raise RolloutFailed(f"{self.env} has no serving endpoint after pulumi up")
        return str(endpoint.value)
