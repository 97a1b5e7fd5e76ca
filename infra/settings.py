"""The one place where stack configuration is read.

`load()` reads the `mlops` namespace of the current stack once, validates every infrastructure key and
returns a frozen `Settings`. Every other module receives settings objects, never `pulumi.Config`.
A bad value raises `SettingsError`, whose message names the stack, the key and what is allowed, so
`pulumi preview` fails before any resource is registered.

Keys (all optional unless marked; defaults are the `local` stack's embedded defaults):

    mlops:target            docker | kubernetes (required)
    mlops:production        bool
    mlops:generateSecrets   bool: create missing secrets as generated values kept in state
    mlops:registry          {port, username}
    mlops:tracking          {port, backend: sqlite | postgres, cpus, memoryMb, workers, readyTimeoutSeconds,
                             publicUrl}
    mlops:artifacts         {volume}
    mlops:training          {cpus, memoryMb}
    mlops:serving           {modelUri, replicas, port, cpus, memoryMb, workers,
                             predictionLog: {dir, format, sample}, extraColumns, readyTimeoutSeconds}
    mlops:images            {base}
    mlops:kubernetes        parsed by `infra.settings_kubernetes` when the target is kubernetes
    mlops:registryPassword  secret
    mlops:postgresPassword  secret (backend postgres)
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

log = logging.getLogger(__name__)

NAMESPACE = "mlops"
TARGETS = ("docker", "kubernetes")
BACKENDS = ("sqlite", "postgres")
LOG_FORMATS = ("jsonl", "parquet")
EXTRA_COLUMNS = ("reject", "ignore")
MODEL_URI = re.compile(
    r"^models:/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>[0-9]+))$"
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
# Secrets a stack may set with `pulumi config set --secret`.
SECRET_KEYS = ("registryPassword", "postgresPassword")


class SettingsError(pulumi.RunError, ValueError):
    """A stack config value that cannot be used; the message names the stack, the key and what is allowed."""

    def __init__(self, stack: str, key: str, problem: str, allowed: str) -> None:
        self.stack = stack
        self.key = key if key.startswith(f"{NAMESPACE}:") else f"{NAMESPACE}:{key}"
        self.allowed = allowed
        super().__init__(f"stack '{stack}': config '{self.key}' {problem}; allowed: {allowed}")


@dataclass(frozen=True)
class Limits:
    """CPU (cores, fractional) and memory (MiB) a workload may use."""

    cpus: float
    memory_mb: int


@dataclass(frozen=True)
class RegistrySettings:
    port: int
    username: str
    password: pulumi.Output[str] | None
    """None when the stack generates its own (generateSecrets)."""


@dataclass(frozen=True)
class TrackingSettings:
    port: int
    backend: str
    limits: Limits
    postgres_password: pulumi.Output[str] | None
    workers: int
    ready_timeout_seconds: int
    """How long a new tracking container may take to answer /health (a fresh store runs migrations)."""
    public_url: str
    """URL at which this program (on the operator's machine) reaches the tracking server."""


@dataclass(frozen=True)
class ArtifactSettings:
    volume: str


@dataclass(frozen=True)
class TrainingSettings:
    limits: Limits


@dataclass(frozen=True)
class PredictionLogSettings:
    dir: Path
    format: str
    sample: float


@dataclass(frozen=True)
class ServingSettings:
    model_uri: str
    replicas: int
    port: int
    limits: Limits
    workers: int
    prediction_log: PredictionLogSettings
    extra_columns: str
    ready_timeout_seconds: int


@dataclass(frozen=True)
class ImageSettings:
    base: str


@dataclass(frozen=True)
class Settings:
    stack: str
    project: str
    target: str
    production: bool
    generate_secrets: bool
    registry: RegistrySettings
    tracking: TrackingSettings
    artifacts: ArtifactSettings
    training: TrainingSettings
    serving: ServingSettings
    images: ImageSettings
    kubernetes: Any
    """`infra.settings_kubernetes.parse(...)` result for the kubernetes target, else None."""

    @property
    def prefix(self) -> str:
        """Prefix of every physical name (containers, volumes, network) of this stack."""
        return f"mlops-{self.stack}"

    @property
    def labels(self) -> dict[str, str]:
        return {"mlops.stack": self.stack, "mlops.project": self.project}


class _Reader:
    """Typed accessors over one config object that report errors against its full key."""

    def __init__(self, stack: str, key: str, raw: Any) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise SettingsError(stack, key, f"is {type(raw).__name__}", "an object of settings")
        self.stack, self.key, self.raw = stack, key, dict(raw)

    def _full(self, name: str) -> str:
        return f"{self.key}.{name}"

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SettingsError(
                self.stack, self._full(name), f"= {value!r} is not allowed", f"an integer from {low} to {high}"
            )
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise SettingsError(
                self.stack, self._full(name), f"= {value!r} is not allowed", f"a number from {low} to {high}"
            )
        return float(value)

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.raw.get(name, default)
        if value not in allowed:
            raise SettingsError(self.stack, self._full(name), f"= {value!r} is not allowed", " | ".join(allowed))
        return str(value)

    def text(self, name: str, default: str, pattern: re.Pattern[str] | None = None, allowed: str = "") -> str:
        value = self.raw.get(name, default)
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise SettingsError(self.stack, self._full(name), f"= {value!r} is not allowed", allowed or "a string")
        return value

    def limits(self, cpus: float, memory_mb: int) -> Limits:
        return Limits(
            cpus=self.number("cpus", cpus, 0.1, 64.0), memory_mb=self.integer("memoryMb", memory_mb, 64, 262144)
        )

    def section(self, name: str) -> _Reader:
        return _Reader(self.stack, self._full(name), self.raw.get(name))


def data_home() -> Path:
    """The user's data dir (XDG), where host-side data of a stack lives."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mlops-platform"


def parse(
    stack: str,
    project: str,
    raw: Mapping[str, Any],
    secrets: Mapping[str, pulumi.Output[str] | None],
    plaintext_secrets: tuple[str, ...] = (),
) -> Settings:
    """Validate plain config values (key without namespace -> value) into `Settings`.

    `secrets` holds the secret keys that are set, as Pulumi secrets (those of `SECRET_KEYS` and, for the
    kubernetes target, of `infra.settings_kubernetes.SECRET_KEYS`, which gets them through its
    `parse(stack, raw, secrets)`); `plaintext_secrets` names those set without `--secret`, which is refused.
    """
    for key in plaintext_secrets:
        raise SettingsError(
            stack,
            key,
            "is set in plain text",
            f"a secret: pulumi config set --secret {NAMESPACE}:{key} ... --stack {stack}",
        )
    target = raw.get("target")
    if target not in TARGETS:
        raise SettingsError(stack, "target", f"= {target!r} is not allowed", " | ".join(TARGETS))
    production = raw.get("production", False)
    generate = raw.get("generateSecrets", False)
    for key, value in (("production", production), ("generateSecrets", generate)):
        if not isinstance(value, bool):
            raise SettingsError(stack, key, f"= {value!r} is not allowed", "true | false")

    reg = _Reader(stack, "registry", raw.get("registry"))
    registry = RegistrySettings(
        port=reg.integer("port", 5501, 1024, 65535),
        username=reg.text("username", "mlops", _NAME, "lower-case letters, digits, '.', '_', '-'"),
        password=_secret(stack, secrets, "registryPassword", generate),
    )

    trk = _Reader(stack, "tracking", raw.get("tracking"))
    backend = trk.choice("backend", "sqlite", BACKENDS)
    tracking_port = trk.integer("port", 5500, 1024, 65535)
    tracking = TrackingSettings(
        port=tracking_port,
        backend=backend,
        limits=trk.limits(1.0, 2048),
        postgres_password=_secret(stack, secrets, "postgresPassword", generate) if backend == "postgres" else None,
        workers=trk.integer("workers", 1, 1, 32),
        ready_timeout_seconds=trk.integer("readyTimeoutSeconds", 600, 10, 3600),
        public_url=trk.text(
            "publicUrl",
            f"http://127.0.0.1:{tracking_port}" if target == "docker" else "",
            re.compile(r"^(https?://\S+)?$"),
            "an http(s) URL or empty",
        ),
    )

    art = _Reader(stack, "artifacts", raw.get("artifacts"))
    artifacts = ArtifactSettings(
        volume=art.text(
            "volume",
            f"mlops-{stack}-artifacts",
            _NAME,
            "a docker volume name (lower-case letters, digits, '.', '_', '-')",
        )
    )

    training = TrainingSettings(limits=_Reader(stack, "training", raw.get("training")).limits(2.0, 4096))

    srv = _Reader(stack, "serving", raw.get("serving"))
    model_uri = srv.text(
        "modelUri",
        "",
        re.compile(f"^$|{MODEL_URI.pattern}"),
        "models:/NAME@ALIAS or models:/NAME/VERSION (or empty: serve nothing)",
    )
    plog = srv.section("predictionLog")
    log_dir = plog.text("dir", str(data_home() / stack / "predictions"))
    if not Path(log_dir).is_absolute():
        raise SettingsError(stack, "serving.predictionLog.dir", f"= {log_dir!r} is not allowed", "an absolute path")
    serving = ServingSettings(
        model_uri=model_uri,
        replicas=srv.integer("replicas", 1, 1, 64),
        port=srv.integer("port", 5580, 1024, 65535),
        limits=srv.limits(1.0, 1024),
        workers=srv.integer("workers", 1, 1, 64),
        prediction_log=PredictionLogSettings(
            dir=Path(log_dir),
            format=plog.choice("format", "jsonl", LOG_FORMATS),
            sample=plog.number("sample", 1.0, 0.0, 1.0),
        ),
        extra_columns=srv.choice("extraColumns", "reject", EXTRA_COLUMNS),
        ready_timeout_seconds=srv.integer("readyTimeoutSeconds", 180, 5, 3600),
    )

    images = ImageSettings(
        base=_Reader(stack, "images", raw.get("images")).text(
            "base", "mlops-base:bookworm-py311", re.compile(r"^[a-z0-9][a-z0-9._/:-]*$"), "an image reference"
        )
    )

    if target == "docker":
        _check_ports(
            stack, {"registry.port": registry.port, "tracking.port": tracking.port, "serving.port": serving.port}
        )

    kubernetes = None
    if target == "kubernetes":
        kubernetes = _kubernetes_module().parse(stack, raw, secrets)

    return Settings(
        stack=stack,
        project=project,
        target=target,
        production=production,
        generate_secrets=generate,
        registry=registry,
        tracking=tracking,
        artifacts=artifacts,
        training=training,
        serving=serving,
        images=images,
        kubernetes=kubernetes,
    )


def _secret(
    stack: str, secrets: Mapping[str, pulumi.Output[str] | None], key: str, generate: bool
) -> pulumi.Output[str] | None:
    value = secrets.get(key)
    if value is None and not generate:
        raise SettingsError(
            stack,
            key,
            "is required but not set",
            f"a secret (pulumi config set --secret {NAMESPACE}:{key} VALUE --stack {stack}), "
            f"or {NAMESPACE}:generateSecrets: true to generate it",
        )
    return value


def _check_ports(stack: str, ports: Mapping[str, int]) -> None:
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            raise SettingsError(
                stack,
                key,
                f"= {port} is already used by {NAMESPACE}:{seen[port]}",
                "a port no other component of the stack publishes",
            )
        seen[port] = key


def _kubernetes_module() -> Any:
    # Imported on use so the docker target never depends on the kubernetes module.
    return importlib.import_module("infra.settings_kubernetes")


def load() -> Settings:
    """Read and validate the current stack's `mlops` config."""
    config = pulumi.Config(NAMESPACE)
    stack, project = pulumi.get_stack(), pulumi.get_project()
    raw: dict[str, Any] = {}
    for key in (
        "target",
        "production",
        "generateSecrets",
        "registry",
        "tracking",
        "artifacts",
        "training",
        "serving",
        "images",
        "kubernetes",
        "promotion",
        "monitoring",
    ):
        value = config.get(key)
        if value is None:
            continue
        try:
            raw[key] = config.get_object(key)
        except Exception:
            raw[key] = value
    secret_keys = SECRET_KEYS + tuple(_kubernetes_module().SECRET_KEYS if raw.get("target") == "kubernetes" else ())
    secrets = {key: config.get_secret(key) for key in secret_keys}
    plaintext = tuple(
        key
        for key in secret_keys
        if pulumi.runtime.get_config(f"{NAMESPACE}:{key}") is not None
        and not pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}")
    )
    settings = parse(stack, project, raw, secrets, plaintext)
    log.info("stack %s: target %s", stack, settings.target)
    return settings
