"""Reading a training Job's state from the objects the API returns (pure: what the unit tests check).

What must stop the wait at once, not after a deadline: an image that cannot be pulled (a pod's container
waiting in ErrImagePull, ImagePullBackOff, ...) and pods the cluster refuses to create (the Job's
FailedCreate event: a ResourceQuota or LimitRange said no, and its message names it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PULL_ERRORS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
)
CONFIG_ERRORS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIXES = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def quantity(value: str) -> float:
    """A Kubernetes quantity (`500m`, `2`, `512Mi`, `8Gi`) as a number of cores or bytes."""
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


def over_quota(resources: Mapping[str, Mapping[str, str]], hard: Mapping[str, str], pods: int = 1) -> list[str]:
    """`limits.cpu: 8 > 4`-style lines for what `pods` pods of these resources need beyond the quota's hard limits."""
    over = []
    for part in ("requests", "limits"):
        for resource, amount in (resources.get(part) or {}).items():
            for key in (f"{part}.{resource}", *([resource] if part == "requests" else [])):
                if key in hard and quantity(amount) * pods > quantity(hard[key]) * (1 + 1e-9):
                    needed = amount if pods == 1 else f"{pods} x {amount}"
                    over.append(f"{key}: {needed} > {hard[key]}")
    return over


@dataclass(frozen=True)
class PodState:
    name: str
    index: int | None
    started: bool
    """The container runs or ran: its log can be read."""
    exit_code: int | None
    reason: str | None
    """Why the container or the pod ended, or waits for good (OOMKilled, Evicted, ErrImagePull...)."""
    message: str
    unschedulable: str | None


def pod_state(pod: Mapping[str, Any]) -> PodState:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    raw_index = (meta.get("annotations") or {}).get(INDEX_ANNOTATION)
    index = int(raw_index) if raw_index is not None and str(raw_index).isdigit() else None
    statuses = status.get("containerStatuses") or []
    state = (statuses[0].get("state") or {}) if statuses else {}
    started = bool(state.get("running") or state.get("terminated"))
    exit_code = reason = None
    message = ""
    if terminated := state.get("terminated"):
        exit_code = int(terminated.get("exitCode", 1))
        reason = terminated.get("reason") if terminated.get("reason") not in (None, "Completed", "Error") else None
        message = str(terminated.get("message") or "")
    elif (waiting := state.get("waiting")) and waiting.get("reason") in PULL_ERRORS | CONFIG_ERRORS:
        reason, message = str(waiting["reason"]), str(waiting.get("message") or "")
    if status.get("phase") == "Failed" and status.get("reason"):
        reason, message = str(status["reason"]), str(status.get("message") or message)
    unschedulable = None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            unschedulable = str(condition.get("message") or "unschedulable")
    return PodState(str(meta.get("name")), index, started, exit_code, reason, message, unschedulable)


def failed_creates(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The messages of the Job's FailedCreate events: the cluster would not create its pods."""
    return [str(e.get("message") or "") for e in events if e.get("reason") == "FailedCreate"]


@dataclass(frozen=True)
class JobState:
    done: bool
    failed: bool
    reason: str
    message: str
    failed_indexes: tuple[int, ...]


def job_state(job: Mapping[str, Any]) -> JobState:
    status = job.get("status") or {}
    failed_indexes = tuple(_indexes(status.get("failedIndexes") or ""))
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if kind in ("Complete", "Failed"):
            reason, message = str(condition.get("reason") or ""), str(condition.get("message") or "")
            return JobState(True, kind == "Failed", reason, message, failed_indexes)
    return JobState(False, False, "", "", failed_indexes)


def _indexes(text: str) -> list[int]:
    """`1,3-5` -> [1, 3, 4, 5] (the Job status' interval notation)."""
    found: list[int] = []
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        found.extend(range(int(low), int(high or low) + 1))
    return found


def is_summary(line: str) -> bool:
    """The `--json` summary line of `python -m ml.train` (kept off the streamed log: it is the result)."""
    if not line.startswith("{"):
        return False
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict) and "run_id" in value and "model_name" in value
