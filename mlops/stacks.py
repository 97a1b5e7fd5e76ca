"""Environments as the `ml` side sees them: a Pulumi stack's outputs and its behaviour config.

This is the one module that talks to Pulumi. It runs the project's program (`infra/__main__.py`, found
through `Pulumi.yaml`) with the Automation API, so `ml` never imports `infra`: the two meet only in stack
outputs and in the `mlops:promotion` / `mlops:monitoring` config sections.
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from contract import CONFIG_NAMESPACE, DEPLOYED_MODEL_ENV, Outputs, data_dir

if TYPE_CHECKING:
    from pulumi import automation as auto

log = logging.getLogger(__name__)


class EnvironmentUnavailable(RuntimeError):
    """An environment cannot be resolved or driven; the message says what to do."""


@dataclass(frozen=True)
class Project:
    """The Pulumi project this checkout holds."""

    root: Path
    name: str
    main: Path
    stack_config_dir: Path

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self.stack_config_dir.glob("Pulumi.*.yaml"))


@cache
def project() -> Project:
    """Find the project: `MLOPS_PROJECT_DIR`, else the nearest `Pulumi.yaml` above the cwd or this package."""
    candidates = []
    if os.environ.get("MLOPS_PROJECT_DIR"):
        candidates.append(Path(os.environ["MLOPS_PROJECT_DIR"]))
    candidates += [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[1]]
    for directory in candidates:
        manifest = directory / "Pulumi.yaml"
        if manifest.is_file():
            spec = yaml.safe_load(manifest.read_text()) or {}
            return Project(
                root=directory.resolve(),
                name=str(spec["name"]),
                main=(directory / spec.get("main", ".") / "__main__.py").resolve(),
                stack_config_dir=(directory / spec.get("stackConfigDir", ".")).resolve(),
            )
    raise EnvironmentUnavailable(
        "No Pulumi.yaml found in the current directory or its parents. Run mlops from the platform checkout, "
        "or set MLOPS_PROJECT_DIR to it."
    )


def backend_url() -> str:
    """`PULUMI_BACKEND_URL` when a team uses Pulumi Cloud or S3, else a file backend in the user's data dir."""
    url = os.environ.get("PULUMI_BACKEND_URL")
    if url:
        local = url[len("file://") :] if url.startswith("file://") else None
        if local is not None and local not in ("", "~") and not Path(local).expanduser().is_dir():
            raise EnvironmentUnavailable(
                f"PULUMI_BACKEND_URL={url}: the directory {local} does not exist; create it (mkdir -p {local}) "
                "or unset PULUMI_BACKEND_URL to use the default state directory."
            )
        return url
    state = data_dir() / "state"
    state.mkdir(parents=True, exist_ok=True)
    return f"file://{state}"


def _stack_file_settings(stack: str) -> Mapping[str, Any]:
    path = project().stack_file(stack)
    if not path.is_file():
        known = ", ".join(project().stacks()) or "none"
        raise EnvironmentUnavailable(f"Unknown environment '{stack}': {path} does not exist (known: {known}).")
    return yaml.safe_load(path.read_text()) or {}


GENERATED_PASSPHRASE = "generate"
"""`workspace:passphrase: generate` in a stack file: a passphrase of this user's own, made on first use."""


def generated_passphrase_file(stack: str) -> Path:
    """The stack's passphrase file under the user's data dir: created once (0600, in a 0700 directory),
    then reused, so the state stays readable by this user and by nobody who merely has the checkout."""
    directory = data_dir() / "passphrases"
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / stack
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    log.info("generated the secrets passphrase of stack %s into %s", stack, path)
    return path


def _passphrase_env(stack: str) -> dict[str, str]:
    """The passphrase comes from the caller's environment; else the stack file says where it comes from.

    Only throwaway loopback stacks (`local`) declare a public one (`workspace:defaultPassphrase`): their
    generated credentials never leave the user's machine. A stack marked production on this machine
    (`local-prod`) says `workspace:passphrase: generate`: one of this user's own, made on first use.
    Shared stacks get theirs from the team's secret store.
    """
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return {}
    config = _stack_file_settings(stack).get("config") or {}
    if config.get("workspace:passphrase") == GENERATED_PASSPHRASE:
        return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(generated_passphrase_file(stack))}
    default = config.get("workspace:defaultPassphrase")
    if default is None:
        raise EnvironmentUnavailable(
            f"Stack '{stack}' needs its secrets passphrase: set PULUMI_CONFIG_PASSPHRASE (or "
            "PULUMI_CONFIG_PASSPHRASE_FILE), or use a backend with its own secrets provider."
        )
    return {"PULUMI_CONFIG_PASSPHRASE": str(default)}


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
        **_passphrase_env(stack),
    }


def _program() -> None:
    runpy.run_path(str(project().main), run_name="__main__")


PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


def deployed_model(selected: auto.Stack) -> dict[str, Any]:
    """What the stack's state says is served now, as `infra.model_ref` reads it from `DEPLOYED_MODEL_ENV`.

    Read from the state (one `pulumi stack export`), never from the infrastructure: the tracking server or
    the cluster being unreachable is exactly the case this serves. `deployed` is false until an `up` has
    completed with a tracking server (its `tracking_uri` output): before that, the reference cannot exist
    anywhere, so the first `up` (or a retry of a failed first `up`) plans no serving.
    """
    deployment = selected.export_stack().deployment or {}
    resources = deployment.get("resources") or []
    root: dict[str, Any] = next((r for r in resources if r.get("type") == "pulumi:pulumi:Stack"), {})
    outputs = root.get("outputs") or {}
    served = outputs.get(Outputs.SERVED_MODEL_URI) or ""
    deployed = bool(outputs.get(Outputs.TRACKING_URI))
    return {"stack": selected.name, "deployed": deployed, "served": served if isinstance(served, str) else ""}


def hand_deployed_model(selected: auto.Stack) -> None:
    """Attach the stack's served model to its program: set for the program's run, keyed by the stack."""
    hint = json.dumps(deployed_model(selected))
    program = selected.workspace.program

    def with_deployed_model() -> None:
        previous = os.environ.get(DEPLOYED_MODEL_ENV)
        os.environ[DEPLOYED_MODEL_ENV] = hint
        try:
            if program is not None:
                program()
        finally:
            if previous is None:
                os.environ.pop(DEPLOYED_MODEL_ENV, None)
            else:
                os.environ[DEPLOYED_MODEL_ENV] = previous

    selected.workspace.program = with_deployed_model


def _stack_locks(stack: str) -> list[Path]:
    """The lock files of `stack` in a file backend (none for other backends)."""
    url = backend_url()
    if not url.startswith("file://"):
        return []
    locks = Path(url[len("file://") :].split("?", 1)[0]).expanduser() / ".pulumi" / "locks"
    return sorted([*locks.glob(f"*/{project().name}/{stack}/*.json"), *locks.glob(f"{stack}/*.json")])


def _alive(pid: int) -> bool:
    """Whether `pid` runs on this machine. A zombie does not: a killed CLI whose parent died too stays one
    until an init reaps it, and not every init does."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def clear_stale_lock(selected: auto.Stack) -> None:
    """Remove the lock a killed `pulumi up` left in a file backend, or say who holds a live one.

    A SIGKILLed update cannot remove its lock file, and every later `up` of the stack then fails with
    "the stack is currently locked". A lock whose process is gone on this machine is stale: `pulumi cancel`
    removes it (the state's pending operations are settled by the next refresh, and the docker provider
    adopts what the killed run left). A lock of a running process, or of another machine, is left alone.
    """
    import socket

    stale: list[str] = []
    live: list[str] = []
    for path in _stack_locks(selected.name):
        try:
            holder = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid, host = int(holder.get("pid") or 0), str(holder.get("hostname") or "")
        mine = host == socket.gethostname()
        (stale if mine and pid and not _alive(pid) else live).append(f"pid {pid} on {host or '?'}")
    if live:
        raise EnvironmentUnavailable(
            f"Stack '{selected.name}' is locked by another Pulumi run ({', '.join(live)}): wait for it to finish. "
            f"If it is dead (another machine), remove the lock with `pulumi cancel --stack {selected.name}`."
        )
    if stale:
        selected.cancel()
        # A warning: shown on stderr even where logging is not configured.
        log.warning(
            "stack %s: removed the lock of a killed Pulumi run (%s); this run finishes its work",
            selected.name,
            ", ".join(stale),
        )


def select_stack(stack: str, *, create: bool = True, deploying: bool = True) -> auto.Stack:
    """The stack of this environment, with the project's program attached (inline, so no language host).

    `deploying`: the caller will preview or update the stack, so the program gets what the stack serves now
    (`hand_deployed_model`); readers of outputs and config pass False and save the extra CLI call.
    """
    from pulumi import automation as auto

    _stack_file_settings(stack)  # an unknown environment is named as such, whatever the caller's environment
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
    settings = _stack_file_settings(stack)
    result: dict[str, Any] = {}
    for key, value in (settings.get("config") or {}).items():
        namespace, _, name = str(key).partition(":")
        if namespace == CONFIG_NAMESPACE and not (isinstance(value, Mapping) and "secure" in value):
            result[name] = value
    return result


def resolve(name: str) -> Environment:
    """Outputs (from the stack's state) and behaviour config of an environment that is up."""
    stack = select_stack(name, create=False, deploying=False)
    # Secret outputs (generated credentials) stay in the state: nothing on the ml side needs them, and
    # whatever is in `outputs` may end up printed.
    outputs = {key: value.value for key, value in stack.outputs().items() if not value.secret}
    if not outputs:
        raise EnvironmentUnavailable(f"Environment '{name}' has no outputs yet: run `mlops env up {name}`.")
    return Environment(name=name, outputs=outputs, config=stack_config(name))


def set_stack_config(stack: str, path: str, value: str) -> None:
    """Write one `mlops:` config value of a stack, e.g. `serving.modelUri`, through Pulumi (a config path)."""
    from pulumi import automation as auto

    select_stack(stack, create=False, deploying=False).set_config(
        f"{CONFIG_NAMESPACE}:{path}", auto.ConfigValue(value), path=True
    )
