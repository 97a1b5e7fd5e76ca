"""Run the infrastructure program under Pulumi mocks, with a stack's config from `stacks/`."""

from __future__ import annotations

import json
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pulumi
import yaml

from contract import CONFIG_NAMESPACE
from tests.support.paths import INFRA_MAIN, STACKS

PREFIX = f"{CONFIG_NAMESPACE}:"
# Pulumi's marker of a secret envelope in resource inputs.
SECRET_SIG = "4dabf18193072939515e22adb298388d"


def stack_config(stack: str) -> dict[str, Any]:
    """The `mlops:` keys of `stacks/Pulumi.<stack>.yaml`, without the namespace."""
    document = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())
    return {
        key.split(":", 1)[1]: value for key, value in (document.get("config") or {}).items() if key.startswith(PREFIX)
    }


def unwrap(value: Any) -> Any:
    """Inputs with Pulumi's secret envelopes replaced by the values inside."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


class RecordingMocks(pulumi.runtime.Mocks):
    """Resources come back with their inputs as outputs, plus what our dynamic providers compute."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outs = dict(args.inputs)
        kind = outs.get("kind")
        if kind == "docker:Image":
            outs["ref"] = f"{outs['repository']}:{outs['tag']}"
            outs["repo_digest"] = ""
        elif kind == "docker:Volume":
            outs["volume_name"] = outs["name"]
        elif kind == "docker:Network":
            outs["network_id"] = f"{outs['name']}-id"
        elif kind == "docker:Container":
            outs["container_id"] = f"{outs['name']}-id"
        elif kind == "random:Secret":
            outs["value"] = "x" * int(outs["length"])
        self.resources.append(args)
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return {}, None


@dataclass
class ProgramRun:
    resources: list[pulumi.runtime.MockResourceArgs]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [unwrap(r.inputs) for r in self.resources if r.inputs.get("kind") == kind]

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{name}: {len(matches)} resources ({[r.name for r in self.resources]})"
        return matches[0]

    def types(self) -> set[str]:
        return {r.typ for r in self.resources}


def run_program(
    stack: str, config: Mapping[str, Any], secrets: Mapping[str, str] | None = None, resolved_model: str = ""
) -> ProgramRun:
    """Run infra/__main__.py for `stack` with `config` (mlops keys) under mocks; the model reference
    resolves to `resolved_model` (the tracking server is not there under mocks)."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="mlops-platform", stack=stack, preview=False)
    values = {f"{PREFIX}{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    values.update({f"{PREFIX}{k}": v for k, v in (secrets or {}).items()})
    pulumi.runtime.set_all_config(values, secret_keys=[f"{PREFIX}{k}" for k in (secrets or {})])
    run = ProgramRun(mocks.resources)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        with mock.patch("infra.model_ref.resolve", return_value=resolved_model):
            namespace = runpy.run_path(str(INFRA_MAIN), run_name="__main__")
        return pulumi.Output.all(**namespace["platform"].outputs).apply(run.outputs.update)

    program()
    return run
