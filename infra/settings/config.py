"""The one place `pulumi.Config` is read: the current stack's `mlops` namespace, every key of it."""

from __future__ import annotations

import json
import logging
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from contract import CONFIG_NAMESPACE
from infra.settings.secrets import SECRET_KEYS, WEBHOOK_SECRET_FIELD, WEBHOOK_SECRET_KEY
from infra.settings.stack import Settings, parse

log = logging.getLogger(__name__)


def namespace_keys() -> list[str]:
    """Every key of the namespace the stack sets, known or not (unknown keys must fail, not vanish)."""
    names = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    prefix = f"{CONFIG_NAMESPACE}:"
    return sorted(name[len(prefix) :] for name in names if name.startswith(prefix))


def _value(config: pulumi.Config, key: str) -> Any:
    text = config.get(key)
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        # A plain string (`mlops:target: docker` arrives as `docker`, not as JSON).
        return text


def load() -> Settings:
    """Read and validate the current stack's `mlops` config."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    stack, project = pulumi.get_stack(), pulumi.get_project()
    keys = namespace_keys()
    raw = {key: _value(config, key) for key in keys if key not in SECRET_KEYS}
    secrets = {key: config.get_secret(key) for key in SECRET_KEYS if key in keys}
    plaintext = tuple(
        key for key in SECRET_KEYS if key in keys and not pulumi.runtime.is_config_secret(f"{CONFIG_NAMESPACE}:{key}")
    )
    monitoring = raw.get("monitoring")
    if isinstance(monitoring, dict) and WEBHOOK_SECRET_FIELD in monitoring:
        # Set with `--path`, it arrives decrypted inside the object, and the whole key is marked secret.
        value = monitoring.pop(WEBHOOK_SECRET_FIELD)
        secrets[WEBHOOK_SECRET_KEY] = pulumi.Output.secret(str(value))
        if not pulumi.runtime.is_config_secret(f"{CONFIG_NAMESPACE}:monitoring"):
            plaintext += (WEBHOOK_SECRET_KEY,)
    settings = parse(stack, project, raw, secrets, plaintext)
    log.info("stack %s: target %s", stack, settings.target)
    return settings
