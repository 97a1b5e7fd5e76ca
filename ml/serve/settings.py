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
    header_timeout: float = 10.0
    """Seconds a client has to send its request line and headers; then a JSON 408 and the connection is closed."""
    body_timeout: float = 30.0
    """Seconds a client has to send the whole body once its headers are in; then a 408."""
    keep_alive: int = 5
    """Seconds an idle keep-alive connection stays open."""
    limit_concurrency: int = 256
    """Open connections and requests in flight per worker; above it uvicorn answers 503."""
    prediction_log_max_rows: int = 100_000
    """Rows the prediction log may hold in memory, queued or being written; more are dropped and counted."""
    prediction_log_max_bytes: int = 64 * 1024 * 1024
    """Estimated bytes of those rows; more are dropped and counted."""

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
            (0 < self.header_timeout <= 600, "header timeout must be in (0, 600] seconds"),
            (0 < self.body_timeout <= 600, "body timeout must be in (0, 600] seconds"),
            (0 < self.keep_alive <= 600, "keep-alive must be in (0, 600] seconds"),
            (self.limit_concurrency >= 2, "limit concurrency must be at least 2"),
            (
                self.prediction_log_max_rows >= self.max_rows,
                f"prediction log max rows {self.prediction_log_max_rows} is below max rows {self.max_rows}: "
                "a full batch could never be logged; raise MLOPS_PREDICTION_LOG_MAX_ROWS",
            ),
            (self.prediction_log_max_bytes >= 1 << 20, "prediction log max bytes must be at least 1 MiB (1048576)"),
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
