"""Environments as the `ml` side sees them: a Pulumi stack's outputs and its behaviour config.

This is the one module that drives Pulumi (with `mlops.project`, `mlops.passphrases` and
`mlops.stack_state` for what it needs first). It runs the project's program (`infra/__main__.py`, found
through `Pulumi.yaml`) with the Automation API, so `ml` never imports `infra`: the two meet only in stack
outputs and in the `mlops:promotion` / `mlops:monitoring` config sections.
"""

from __future__ import annotations

import logging
import os
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract import CONFIG_NAMESPACE, Outputs
from mlops.passphrases import PASSPHRASE_VARS, passphrase_env
from mlops.project import EnvironmentUnavailable, Project, backend_url, project, stack_file_settings
from mlops.stack_state import clear_stale_lock, deployed_model, hand_deployed_model

if TYPE_CHECKING:
    from pulumi import automation as auto

log = logging.getLogger(__name__)


def pulumi_env(stack: str) -> dict[str, str]:
    """Environment for every Pulumi CLI call: offline, quiet, our toolchain first on PATH."""
    venv_bin = Path(sys.executable).parent
    path = os.pathsep.join([str(venv_bin), os.environ.get("PATH", "")])
    return {
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "1",
        "PULUMI_BACKEND_URL": backend_url(),
        # Dynamic providers run in a separate `python -m pulumi.dynamic`; it must be this venv's python.
        "PULUMI_RUNTIME_VIRTUALENV": str(venv_bin.parent),
        "PATH": path,
        **passphrase_env(stack),
    }


def _program() -> None:
    runpy.run_path(str(project().main), run_name="__main__")


def select_stack(stack: str, *, create: bool = True, deploying: bool = True) -> auto.Stack:
    """The stack of this environment, with the project's program attached (inline, so no language host).

    `deploying`: the caller will preview or update the stack, so the program gets what the stack serves now
    (`hand_deployed_model`); readers of outputs and config pass False and save the extra CLI call.
    """
    from pulumi import automation as auto

    stack_file_settings(stack)  # an unknown environment is named as such, whatever the caller's environment
    env = pulumi_env(stack)
    # The CLI reads these from the process too when it spawns plugins. The passphrase is not among them:
    # it belongs to this stack only and reaches the CLI through the workspace's env_vars, so a public
    # passphrase of `local` can never be picked up by another stack selected later in this process.
    os.environ.update({k: v for k, v in env.items() if k != "PATH" and k not in PASSPHRASE_VARS})
    os.environ["PATH"] = env["PATH"]
    opts = auto.LocalWorkspaceOptions(work_dir=str(project().root), env_vars=env)
    try:
        if create:
            selected = auto.create_or_select_stack(
                stack_name=stack, project_name=project().name, program=_program, opts=opts
            )
        else:
            selected = auto.select_stack(stack_name=stack, project_name=project().name, program=_program, opts=opts)
        if deploying:
            clear_stale_lock(selected)
            hand_deployed_model(selected)
        return selected
    except auto.errors.StackNotFoundError as exc:
        raise EnvironmentUnavailable(
            f"Environment '{stack}' has never been brought up: run `mlops env up {stack}`."
        ) from exc
    except FileNotFoundError as exc:
        raise EnvironmentUnavailable(
            f"The Pulumi CLI was not found ({exc}). Run `make setup` to install the toolchain into .venv/bin."
        ) from exc


@dataclass(frozen=True)
class Environment:
    """What `ml` needs to know about one environment."""

    name: str
    outputs: Mapping[str, Any]
    config: Mapping[str, Any] = field(default_factory=dict)
    tracking_login: tuple[str, str] | None = field(default=None, repr=False)
    """(username, password) of the tracking server's basic auth, or None when it runs none. Kept out of
    `outputs`, which may be printed."""

    def _output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise EnvironmentUnavailable(
                f"Environment '{self.name}' has no '{key}' output. Is it up to date? Run `mlops env up {self.name}`."
            )
        return str(value)

    @property
    def tracking_uri(self) -> str:
        return self._output("tracking_uri")

    @property
    def serving_endpoint(self) -> str:
        return self._output("serving_endpoint")

    @property
    def registry_address(self) -> str:
        return self._output("registry_address")

    @property
    def prediction_log_uri(self) -> str:
        return self._output("prediction_log_uri")

    def section(self, name: str) -> Mapping[str, Any]:
        """A behaviour section of the stack config (`promotion`, `monitoring`), `{}` when absent."""
        value = self.config.get(name) or {}
        if not isinstance(value, Mapping):
            raise EnvironmentUnavailable(
                f"Stack '{self.name}': config key '{CONFIG_NAMESPACE}:{name}' must be a mapping."
            )
        return value


def stack_config(stack: str) -> dict[str, Any]:
    """The plain (non-secret) `mlops:*` config of a stack, keys without the namespace, values parsed."""
    settings = stack_file_settings(stack)
    result: dict[str, Any] = {}
    for key, value in (settings.get("config") or {}).items():
        namespace, _, name = str(key).partition(":")
        if namespace == CONFIG_NAMESPACE and not (isinstance(value, Mapping) and "secure" in value):
            result[name] = value
    return result


def resolve(name: str) -> Environment:
    """Outputs (from the stack's state) and behaviour config of an environment that is up."""
    stack = select_stack(name, create=False, deploying=False)
    everything = stack.outputs()
    # Secret outputs (generated credentials) stay out of `outputs`, which may end up printed. The tracking
    # server's login is the one the ml side needs: every MLflow call of this process to that server sends it.
    outputs = {key: value.value for key, value in everything.items() if not value.secret}
    if not outputs:
        raise EnvironmentUnavailable(f"Environment '{name}' has no outputs yet: run `mlops env up {name}`.")
    login = tracking_login(everything.get(Outputs.TRACKING_CREDENTIALS))
    environment = Environment(name=name, outputs=outputs, config=stack_config(name), tracking_login=login)
    if login is not None:
        from mlops.tracking_logins import remember

        remember(environment.tracking_uri, *login)
    return environment


def tracking_login(output: Any) -> tuple[str, str] | None:
    """(username, password) from the `tracking_credentials` output (an `OutputValue` or its value), or None."""
    value = getattr(output, "value", output)
    if not isinstance(value, Mapping) or not value.get("username"):
        return None
    return str(value["username"]), str(value.get("password") or "")


def set_stack_config(stack: str, path: str, value: str) -> None:
    """Write one `mlops:` config value of a stack, e.g. `serving.modelUri`, through Pulumi (a config path)."""
    from pulumi import automation as auto

    select_stack(stack, create=False, deploying=False).set_config(
        f"{CONFIG_NAMESPACE}:{path}", auto.ConfigValue(value), path=True
    )


__all__ = [
    "Environment",
    "EnvironmentUnavailable",
    "Project",
    "backend_url",
    "deployed_model",
    "hand_deployed_model",
    "project",
    "pulumi_env",
    "resolve",
    "select_stack",
    "set_stack_config",
    "stack_config",
    "tracking_login",
]
