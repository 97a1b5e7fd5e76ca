"""A serving endpoint answers for the version we expect, with the registered model's own predictions."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


class SmokeTestFailed(RuntimeError):
    """The endpoint is down, serves another version, or predicts differently from the registry's model."""


@dataclass(frozen=True)
class SmokeResult:
    endpoint: str
    version: str
    rows: int
    predictions: list[Any]


def _request(url: str, body: bytes | None = None, timeout: float = 10.0) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for_version(endpoint: str, version: str, timeout: float = 120.0) -> dict[str, Any]:
    """`/metadata` of the endpoint once it reports `version` (replicas may still be rolling)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            metadata = _request(f"{endpoint.rstrip('/')}/metadata")
            if str(metadata.get("version")) == str(version):
                return metadata
            last = f"it serves version {metadata.get('version')}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
        time.sleep(1.0)
    raise SmokeTestFailed(f"{endpoint} did not serve version {version} within {timeout:.0f}s: {last}")


def predict(endpoint: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return _request(f"{endpoint.rstrip('/')}/predict", json.dumps({"records": rows}).encode())


def smoke_test(endpoint: str, version: str, model: Any, features: Any, timeout: float = 120.0) -> SmokeResult:
    """Probe `endpoint` with `features` (a DataFrame) and compare with `model.predict` on the same rows."""
    import numpy as np

    wait_for_version(endpoint, version, timeout)
    records = json.loads(features.to_json(orient="records"))
    try:
        answer = predict(endpoint, records)
    except urllib.error.HTTPError as exc:
        raise SmokeTestFailed(f"{endpoint}/predict answered {exc.code}: {exc.read()[:500]!r}") from exc
    served = answer.get("predictions", [])
    expected = model.predict(features)
    if str(answer.get("model_version")) != str(version):
        raise SmokeTestFailed(f"{endpoint} answered with version {answer.get('model_version')}, expected {version}")
    same = len(served) == len(expected) and all(
        np.isclose(float(a), float(b)) if _is_number(a) else str(a) == str(b)
        for a, b in zip(served, expected.tolist(), strict=True)
    )
    if not same:
        raise SmokeTestFailed(
            f"{endpoint} predictions differ from the registered model's: {served[:5]} vs {expected.tolist()[:5]}"
        )
    return SmokeResult(endpoint=endpoint, version=str(version), rows=len(records), predictions=served)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
