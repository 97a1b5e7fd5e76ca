"""The settings of one stack: the whole `mlops` namespace validated into one frozen `Settings`.

`parse` checks every key at once: unknown keys (with the closest known one), types and bounds of each
section, the rules between keys, and the secrets the stack needs. Nothing here reads `pulumi.Config`
(`infra.settings.config` does), so tests parse plain dicts.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pulumi
from pydantic import Field, ValidationError

from contract import ModelRef, cron, data_dir, stack_labels
from infra.settings import secrets as secret_keys
from infra.settings.errors import Problem, SettingsError, config_key, problems, unknown_key
from infra.settings.fields import Section, flag
from infra.settings.kubernetes import KubernetesSettings
from infra.settings.secrets import Secrets
from infra.settings.sections import (
    MONITOR_LOOP_KEYS,
    MONITOR_THRESHOLD_KEYS,
    TARGETS,
    ArtifactSettings,
    ImageSettings,
    MonitoringSettings,
    RegistrySettings,
    ServingSettings,
    Target,
    TrackingSettings,
    TrainingSettings,
)

OTHER_READERS = ("promotion",)
"""Keys of the namespace that `ml` reads (the promotion policy): known here, not parsed. `monitoring` is both
sides': its `schedule` is parsed here, its thresholds handed on unparsed (`MonitoringSettings`), the rest `ml`'s."""


class Settings(Section):
    stack: str
    project: str
    target: Target = Field(description=" | ".join(TARGETS))
    production: bool = flag(False)
    generate_secrets: bool = flag(False)
    """Create missing secrets as generated values kept in state."""
    registry: RegistrySettings = RegistrySettings()
    tracking: TrackingSettings = TrackingSettings()
    artifacts: ArtifactSettings
    training: TrainingSettings = TrainingSettings()
    serving: ServingSettings
    images: ImageSettings = ImageSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    kubernetes: KubernetesSettings | None = None
    """Parsed for the kubernetes target only; None for docker."""
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)

    @property
    def prefix(self) -> str:
        """Prefix of every physical name (containers, volumes, network) of this stack."""
        return f"mlops-{self.stack}"

    @property
    def labels(self) -> dict[str, str]:
        return stack_labels(self.project, self.stack)


_FIELD_ALIASES = frozenset(info.alias or name for name, info in Settings.model_fields.items()) - {
    "stack",
    "project",
    "secrets",
}
"""The namespace keys `Settings` parses (stack, project and secrets come from elsewhere)."""
CONFIG_KEYS = _FIELD_ALIASES | frozenset(OTHER_READERS) | frozenset(secret_keys.SECRET_KEYS)
"""Every key the `mlops` namespace may hold."""


def _section(raw: dict[str, Any], *path: str) -> dict[str, Any]:
    """The (possibly new) object at `path`; a non-object value is left for validation to report."""
    current = raw
    for key in path:
        value = current.get(key)
        if value is None:
            value = current[key] = {}
        if not isinstance(value, dict):
            return {}
        current = value
    return current


def derived_defaults(stack: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` with the defaults that depend on the stack's name or on other keys filled in."""
    data = {key: copy.deepcopy(value) for key, value in raw.items() if value is not None}
    _section(data, "artifacts").setdefault("volume", f"mlops-{stack}-artifacts")
    _section(data, "serving", "predictionLog").setdefault("dir", str(data_dir() / stack / "predictions"))
    monitoring = data.get("monitoring")
    if isinstance(monitoring, dict):
        # The schedule is the program's; of the rest, only the thresholds travel to the scheduled monitor.
        retrain = monitoring.get("retrain")
        train_config = retrain.get("trainConfig") if isinstance(retrain, dict) else None
        keys = MONITOR_THRESHOLD_KEYS + (MONITOR_LOOP_KEYS if train_config else ())
        split: dict[str, Any] = {"thresholds": {k: v for k, v in monitoring.items() if k in keys}}
        request = split["thresholds"].get("promotionRequest")
        if isinstance(request, dict):
            # The scheduled monitor announces on the webhook; the GitHub dispatch is the operator's and monitor.yml's.
            split["thresholds"]["promotionRequest"] = {k: v for k, v in request.items() if k != "github"}
        if train_config:
            split["retrainConfig"] = train_config
        if "schedule" in monitoring:
            split["schedule"] = monitoring["schedule"]
        data["monitoring"] = split
    tracking = _section(data, "tracking")
    tracking_port = tracking.get("port", TrackingSettings.model_fields["port"].default)
    if data.get("target") == "docker" and isinstance(tracking_port, int):
        tracking.setdefault("publicUrl", f"http://127.0.0.1:{tracking_port}")
    if data.get("target") != "kubernetes":
        data.pop("kubernetes", None)
        return data
    k8s = _section(data, "kubernetes")
    namespace = k8s.setdefault("namespace", f"mlops-{stack}")
    _section(k8s, "training").setdefault("namespace", f"{namespace}-training")
    _section(k8s, "artifacts")
    registry = _section(k8s, "registry")
    if registry.get("mode", "in-cluster") == "in-cluster":
        registry.setdefault("address", f"127.0.0.1:{registry.get('nodePort', 30500)}")
    if "address" in registry:
        registry.setdefault("pushAddress", registry["address"])
    replicas = _section(data, "serving").get("replicas", 1)
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas >= 1:
        _section(k8s, "serving", "autoscaling").setdefault("maxReplicas", replicas)
    return data


def parse(
    stack: str,
    project: str,
    raw: Mapping[str, Any],
    secrets: Mapping[str, pulumi.Output[str] | None] | None = None,
    plaintext_secrets: tuple[str, ...] = (),
) -> Settings:
    """Validate the `mlops` keys of a stack (key without namespace -> plain value) into `Settings`.

    `secrets` holds the secret keys that are set, as Pulumi secrets; `plaintext_secrets` names those set
    without `--secret`, which is refused. Raises one `SettingsError` listing every problem.
    """
    given = dict(secrets or {})
    found: list[Problem] = [unknown_key([], key, CONFIG_KEYS) for key in raw if key not in CONFIG_KEYS]
    data = {key: value for key, value in derived_defaults(stack, raw).items() if key in _FIELD_ALIASES}
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(
            {**data, "stack": stack, "project": project, "secrets": secret_keys.secrets(given)}
        )
    except ValidationError as err:
        found += problems(err, Settings)
    need = secret_keys.Need(
        target=raw.get("target"),
        generate=raw.get("generateSecrets") is True,
        backend=_plain(raw, "tracking", "backend") or "sqlite",
        database=_plain(raw, "kubernetes", "tracking", "database") or "in-cluster",
        announces=bool(_webhook_url(data.get("monitoring"))),
    )
    found += secret_keys.check(stack, need, given, plaintext_secrets)
    if settings is not None:
        found += cross_key_problems(settings)
    if found:
        raise SettingsError(stack, found)
    assert settings is not None
    return settings


def _webhook_url(monitoring: object) -> str:
    """The monitoring section's webhook, read as the program will read it, so a stack that announces needs its
    secret even when another key is wrong (the whole settings then fail to validate, and list both problems)."""
    try:
        return MonitoringSettings.model_validate(monitoring).webhook_url if isinstance(monitoring, dict) else ""
    except ValidationError:
        return ""


def _plain(raw: Mapping[str, Any], *path: str) -> object:
    value: object = raw
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


# Rules between keys, checked once every key is valid on its own.


def cross_key_problems(settings: Settings) -> list[Problem]:
    found = _docker_ports(settings) if settings.target == "docker" else []
    found += _schedule_problems(settings)
    ks = settings.kubernetes
    if ks is None:
        return found
    if settings.tracking.backend == "sqlite" and ks.tracking.replicas != 1:
        found.append(
            Problem(
                config_key("kubernetes.tracking.replicas"),
                f"= {ks.tracking.replicas} is not allowed with tracking.backend sqlite",
                "1 (one writer on the SQLite volume), or mlops:tracking.backend: postgres",
            )
        )
    if ks.training.namespace == ks.namespace:
        found.append(
            Problem(
                config_key("kubernetes.training.namespace"),
                f"= {ks.namespace!r} is the platform namespace",
                "a namespace of its own, so the quota bounds training jobs only",
            )
        )
    scaling, replicas = ks.serving.autoscaling, settings.serving.replicas
    if scaling.enabled and scaling.max_replicas < replicas:
        found.append(
            Problem(
                config_key("kubernetes.serving.autoscaling.maxReplicas"),
                f"= {scaling.max_replicas} is below mlops:serving.replicas ({replicas})",
                f"an integer from {replicas} to 256",
            )
        )
    return found


def _docker_ports(settings: Settings) -> list[Problem]:
    """Every port the docker target publishes on the host belongs to one component."""
    ports = {
        "registry.port": settings.registry.port,
        "tracking.port": settings.tracking.port,
        "serving.port": settings.serving.port,
    }
    seen: dict[int, str] = {}
    found = []
    for key, number in ports.items():
        if number in seen:
            found.append(
                Problem(
                    config_key(key),
                    f"= {number} is already used by {config_key(seen[number])}",
                    "a port no other component of the stack publishes",
                )
            )
        else:
            seen[number] = key
    return found


def _schedule_problems(settings: Settings) -> list[Problem]:
    """A schedule is a cron every scheduler accepts, and there is a served model for it to monitor."""
    schedule = settings.monitoring.schedule
    if not schedule:
        return []
    try:
        cron.parse(schedule)
    except cron.CronError as err:
        return [
            Problem(config_key("monitoring.schedule"), f"= {schedule!r} is not a cron expression: {err}", cron.HELP)
        ]
    try:
        ModelRef.parse(settings.serving.model_uri)
    except ValueError:
        return [
            Problem(
                config_key("monitoring.schedule"),
                f"= {schedule!r} is set, but mlops:serving.modelUri names no model to monitor",
                "a schedule with mlops:serving.modelUri set (models:/NAME@ALIAS), or no schedule",
            )
        ]
    return []
