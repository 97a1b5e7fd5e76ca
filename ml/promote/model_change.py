"""What the tracking server knows about the serving model before and after a change.

Each side of a `ModelRefChange` resolves to a registered version with its `test_*` metrics and its gate
results (the `gates`, `gates.passed` and `promotion.gates` version tags, see docs/architecture.md). The
tracking server is often out of the CI runner's reach; then the comment says so and why, and shows the
references alone.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from contract import TAG_GATES_PASSED, ModelRef


@dataclass(frozen=True)
class ModelRefChange:
    """The serving model reference before and after (None: no serving resource on that side)."""

    old: str | None
    new: str | None
    source: str
    resources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool | None
    detail: str = ""


@dataclass(frozen=True)
class VersionFacts:
    name: str
    version: str
    metrics: Mapping[str, float]
    gates_passed: bool | None
    gates: tuple[Gate, ...]
    promotion_gates: tuple[Gate, ...]


@dataclass(frozen=True)
class Side:
    """One side of the change: the reference, and either its facts or why there are none."""

    uri: str | None
    facts: VersionFacts | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ModelComparison:
    change: ModelRefChange
    tracking_uri: str | None
    old: Side
    new: Side
    unavailable: str | None = None

    def metric_names(self) -> list[str]:
        """The `test_*` metrics of either side, or all of their metrics when neither has any."""
        names: set[str] = set()
        for side in (self.old, self.new):
            if side.facts:
                names.update(side.facts.metrics)
        tests = sorted(n for n in names if n.startswith("test_"))
        return tests or sorted(names)


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _training_gates(raw: str | None) -> tuple[Gate, ...]:
    """The `gates` tag: `{name: {"passed": bool, ...}}` as training writes it; anything else, verbatim."""
    if not raw:
        return ()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return (Gate("gates", None, f"unreadable tag: {raw[:120]}"),)
    if isinstance(data, Mapping):
        gates = []
        for name, result in data.items():
            if isinstance(result, Mapping):
                detail = result.get("detail") or result.get("reason") or result.get("message") or ""
                gates.append(Gate(str(name), _as_bool(result.get("passed")), str(detail)))
            else:
                gates.append(Gate(str(name), _as_bool(result), ""))
        return tuple(gates)
    if isinstance(data, list):
        return _gate_list(data)
    return (Gate("gates", None, str(data)[:120]),)


def _gate_list(data: list[Any]) -> tuple[Gate, ...]:
    return tuple(
        Gate(str(item.get("name", "?")), _as_bool(item.get("passed")), str(item.get("detail", "")))
        for item in data
        if isinstance(item, Mapping)
    )


def _promotion_gates(raw: str | None) -> tuple[Gate, ...]:
    if not raw:
        return ()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return (Gate("promotion.gates", None, f"unreadable tag: {raw[:120]}"),)
    return _gate_list(data) if isinstance(data, list) else ()


def facts_from(name: str, version: str, tags: Mapping[str, str], metrics: Mapping[str, float]) -> VersionFacts:
    return VersionFacts(
        name=name,
        version=version,
        metrics=dict(metrics),
        gates_passed=_as_bool(tags.get(TAG_GATES_PASSED)),
        gates=_training_gates(tags.get("gates")),
        promotion_gates=_promotion_gates(tags.get("promotion.gates")),
    )


@contextlib.contextmanager
def _bounded_mlflow_requests(timeout: float) -> Iterator[None]:
    """MLflow's client retries for minutes by default; a CI comment must not wait that long."""
    settings = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(max(timeout, 1)))}
    before = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def probe(tracking_uri: str, timeout: float) -> str | None:
    """None when an HTTP tracking server answers /health; else why it does not (other schemes pass)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    import requests

    url = tracking_uri.rstrip("/") + "/health"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        return f"tracking server {tracking_uri} is unreachable from here ({type(exc).__name__})"
    if response.status_code != 200:
        return f"tracking server {tracking_uri} answered /health with HTTP {response.status_code}"
    return None


def _describe(tracking_uri: str, uri: str | None) -> Side:
    if uri is None:
        return Side(None)
    try:
        ref = ModelRef.parse(uri)
    except ValueError as exc:
        return Side(uri, problem=str(exc))
    from mlflow.exceptions import MlflowException

    from ml.promote.versions import VersionNotFound, get_version

    try:
        found = get_version(tracking_uri, ref.name, version=ref.version, alias=ref.alias)
    except VersionNotFound as exc:
        return Side(uri, problem=str(exc))
    except MlflowException as exc:
        return Side(uri, problem=f"the tracking server refused the look-up: {exc.message[:200]}")
    return Side(uri, facts=facts_from(found.name, found.version, found.tags, found.metrics))


def compare(change: ModelRefChange, tracking_uri: str | None, *, timeout: float = 5.0) -> ModelComparison:
    """Resolve both sides of a change against `tracking_uri`, degrading to the bare references."""
    old, new = Side(change.old), Side(change.new)
    if not tracking_uri:
        return ModelComparison(
            change,
            None,
            old,
            new,
            unavailable="no tracking server is known for this stack (it has no `tracking_uri` output yet); "
            "pass --tracking-uri to compare the versions",
        )
    if (problem := probe(tracking_uri, timeout)) is not None:
        return ModelComparison(change, tracking_uri, old, new, unavailable=problem)
    with _bounded_mlflow_requests(timeout):
        return ModelComparison(
            change, tracking_uri, _describe(tracking_uri, change.old), _describe(tracking_uri, change.new)
        )
