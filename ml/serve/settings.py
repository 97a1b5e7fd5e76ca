"""Model-server settings: the env vars of docs/architecture.md, overridden by `mlops serve` options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from contract import MODEL_URI_HELP, SERVER_ENV
from ml.serve.sinks import FORMATS

ENV = SERVER_ENV


class SettingsError(ValueError):
    """A setting has a value the server cannot use."""


@dataclass(frozen=True)
class ServeSettings:
    model_uri: str
    tracking_uri: str | None = None
    port: int = 8080
    host: str = "127.0.0.1"
    """Loopback unless told otherwise: the images set MLOPS_HOST=0.0.0.0 for their own network namespace."""
    workers: int = 1
    model_cache: Path = Path("/var/cache/mlops/models")
    prediction_log: str = ""
    prediction_log_format: str = "jsonl"
    prediction_log_sample: float = 1.0
    extra_columns: str = "reject"
    max_rows: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
    fast_path: bool = True
    access_log: bool = False

    def __post_init__(self) -> None:
        checks = [
            (
                bool(self.model_uri),
                f"MLOPS_MODEL_URI / --model-uri is required ({MODEL_URI_HELP})",
            ),
            (0 < self.port < 65536, f"port {self.port} must be 1..65535"),
            (self.workers >= 1, f"workers {self.workers} must be at least 1"),
            (self.prediction_log_format in FORMATS, f"prediction log format must be one of {FORMATS}"),
            (0.0 <= self.prediction_log_sample <= 1.0, "prediction log sample must be a fraction in 0..1"),
            (self.extra_columns in ("reject", "ignore"), "extra columns must be 'reject' or 'ignore'"),
            (self.max_rows >= 1, "max rows must be at least 1"),
            (self.max_body_bytes >= 1024, "max body bytes must be at least 1024"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> ServeSettings:
        """Env vars first, then non-None overrides; every value converted to its field's type."""
        environ = os.environ if environ is None else environ
        raw: dict[str, Any] = {k: environ[v] for k, v in ENV.items() if environ.get(v, "") != ""}
        raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            values[key] = _convert(key, types[key], value)
        values.setdefault("model_uri", "")
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The env vars that reproduce these settings in a worker process."""
        out = {}
        for key, var in ENV.items():
            value = getattr(self, key)
            if value is None:
                continue
            out[var] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out


def _convert(key: str, typ: Any, value: Any) -> Any:
    name = f"{ENV[key]} / --{key.replace('_', '-')}"
    try:
        if typ in ("int", int):
            return int(value)
        if typ in ("float", float):
            return float(value)
        if typ in ("bool", bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return text in ("1", "true", "yes", "on")
        if typ in ("Path", Path):
            return Path(value)
    except ValueError as exc:
        raise SettingsError(f"{name}: cannot use {value!r} ({typ})") from exc
    return str(value)
