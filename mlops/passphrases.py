"""Where a stack's secrets passphrase comes from: the caller's environment, a passphrase of this user's own
generated on first use, or the public one a throwaway loopback stack declares."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from contract import data_dir
from mlops.project import EnvironmentUnavailable, stack_file_settings

log = logging.getLogger(__name__)

PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


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


def passphrase_env(stack: str) -> dict[str, str]:
    """The passphrase comes from the caller's environment; else the stack file says where it comes from.

    Only throwaway loopback stacks (`local`) declare a public one (`workspace:defaultPassphrase`): their
    generated credentials never leave the user's machine. A stack marked production on this machine
    (`local-prod`) says `workspace:passphrase: generate`: one of this user's own, made on first use.
    Shared stacks get theirs from the team's secret store.
    """
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return {}
    config = stack_file_settings(stack).get("config") or {}
    if config.get("workspace:passphrase") == GENERATED_PASSPHRASE:
        return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(generated_passphrase_file(stack))}
    default = config.get("workspace:defaultPassphrase")
    if default is None:
        raise EnvironmentUnavailable(
            f"Stack '{stack}' needs its secrets passphrase: set PULUMI_CONFIG_PASSPHRASE (or "
            "PULUMI_CONFIG_PASSPHRASE_FILE), or use a backend with its own secrets provider."
        )
    return {"PULUMI_CONFIG_PASSPHRASE": str(default)}
