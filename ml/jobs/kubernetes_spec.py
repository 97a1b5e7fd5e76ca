"""The Kubernetes part of a stack's `training` output: where a training Job runs and what it may use.

`infra/components/kubernetes/training.py` writes it: the cluster (a kubeconfig path, empty for the
operator's default, and a context), the training namespace, the trainer ServiceAccount, the container's
requests and limits (inside the namespace's quota), the pod and container security contexts, the Job's
`backoffLimit`, `activeDeadlineSeconds` and `ttlSecondsAfterFinished` (`mlops:kubernetes.training`), the
name of the quota, the S3 endpoint with the name of the Secret holding its credentials, and the tracking
server's login (its user, and the Secret holding its password) when the server runs basic auth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class OutputError(ValueError):
    """What is missing or malformed in the output (`ml.jobs.spec` turns it into a JobSpecError)."""


@dataclass(frozen=True)
class S3Access:
    endpoint: str
    region: str
    secret: str
    """A Secret of the training namespace with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""


@dataclass(frozen=True)
class TrackingLogin:
    username: str
    secret: str
    """A Secret of the training namespace whose key `password` is the tracking server's password."""


@dataclass(frozen=True)
class KubernetesJob:
    namespace: str
    service_account: str
    resources: Mapping[str, Mapping[str, str]]
    """`{"requests": {...}, "limits": {...}}` as a container states them."""
    backoff_limit: int
    active_deadline_seconds: int
    ttl_seconds_after_finished: int
    kubeconfig: str = ""
    """A kubeconfig path; empty: $KUBECONFIG, else ~/.kube/config."""
    context: str = ""
    image_pull_policy: str = "IfNotPresent"
    pod_security_context: Mapping[str, Any] = field(default_factory=dict)
    security_context: Mapping[str, Any] = field(default_factory=dict)
    quota: str = ""
    """The training namespace's ResourceQuota, checked before a Job is created."""
    s3: S3Access | None = None
    tracking_login: TrackingLogin | None = None

    @classmethod
    def from_output(cls, output: Mapping[str, Any]) -> KubernetesJob:
        missing = [
            k
            for k in ("namespace", "service_account", "resources", "backoff_limit", "active_deadline_seconds")
            if output.get(k) in (None, "", {})
        ]
        if "ttl_seconds_after_finished" not in output:
            missing.append("ttl_seconds_after_finished")
        if missing:
            raise OutputError(f"lacks {', '.join(missing)}")
        try:
            return cls(
                namespace=str(output["namespace"]),
                service_account=str(output["service_account"]),
                resources=_resources(output["resources"]),
                backoff_limit=_count(output["backoff_limit"]),
                active_deadline_seconds=_count(output["active_deadline_seconds"]),
                ttl_seconds_after_finished=_count(output["ttl_seconds_after_finished"]),
                kubeconfig=str(output.get("kubeconfig") or ""),
                context=str(output.get("context") or ""),
                image_pull_policy=str(output.get("image_pull_policy") or "IfNotPresent"),
                pod_security_context=dict(output.get("pod_security_context") or {}),
                security_context=dict(output.get("security_context") or {}),
                quota=str(output.get("quota") or ""),
                s3=_s3(output.get("s3")),
                tracking_login=_login(output.get("tracking_login")),
            )
        except OutputError as exc:
            raise OutputError(f"is malformed ({exc})") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise OutputError(f"is malformed ({exc!r})") from exc


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or int(value) != value:
        raise OutputError(f"{value!r} is not a count")
    return int(value)


def _resources(value: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, Mapping) or not isinstance(value.get("limits"), Mapping):
        raise OutputError(f"resources {value!r} lack limits")
    return {part: {str(k): str(v) for k, v in (value.get(part) or {}).items()} for part in ("requests", "limits")}


def _s3(value: Any) -> S3Access | None:
    if not value:
        return None
    if not isinstance(value, Mapping) or not value.get("endpoint") or not value.get("secret"):
        raise OutputError(f"s3 {value!r} lacks endpoint or secret")
    return S3Access(str(value["endpoint"]), str(value.get("region") or "us-east-1"), str(value["secret"]))


def _login(value: Any) -> TrackingLogin | None:
    if not value:
        return None
    if not isinstance(value, Mapping) or not value.get("username") or not value.get("secret"):
        raise OutputError(f"tracking_login {value!r} lacks username or secret")
    return TrackingLogin(str(value["username"]), str(value["secret"]))
