"""Promotion requests: a retrained challenger asks to be promoted, and a person (or CI) decides.

A request is one MLflow run in the `mlops-promotion-requests` experiment of the environment whose monitor
retrained the model, so it lives with the registry that holds the challenger. Its tags say what is asked
(model, version, from, to), why (the trigger tags of `contract`) and where it stands; its artifacts hold the
content (`request.md`, the combined comment, and `request.json`, the same as data). A request never promotes
by itself: `mlops promote --request ID` runs the normal promotion and then settles it. Only a pending
request can be settled, once: `promoted` or `refused` are final.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ml.promote.audit import experiment_id

EXPERIMENT = "mlops-promotion-requests"
Status = Literal["pending", "promoted", "refused"]
PENDING: Status = "pending"
PROMOTED: Status = "promoted"
REFUSED: Status = "refused"
FINAL: tuple[Status, ...] = (PROMOTED, REFUSED)
MARKDOWN = "request.md"
DOCUMENT = "request.json"

TAG_STATUS = "request.status"
TAG_MODEL = "request.model"
TAG_VERSION = "request.version"
TAG_FROM = "request.from_env"
TAG_TO = "request.to_env"
TAG_CREATED = "request.created"
TAG_REASON = "request.reason"
"""Why it was refused, or what the last attempt that left it pending said (needs approval, an error)."""
TAG_PROMOTED_VERSION = "request.promoted_version"
TAG_DELIVERY = "delivery.status"
"""`delivered`, `failed` or `none` (no webhook configured)."""
TAG_DELIVERY_DETAIL = "delivery.detail"
TAG_DISPATCH = "dispatch.status"
"""The GitHub workflow run asked for it: `dispatched`, `failed`, or absent (no `promotionRequest.github`)."""
TAG_DISPATCH_DETAIL = "dispatch.detail"
MAX_TAG = 5000


class RequestNotFound(LookupError):
    """No promotion request of that id on this tracking server."""


class RequestTargetMismatch(ValueError):
    """The request asks for another target environment than the one the caller was approved for."""


class RequestSettled(RuntimeError):
    """The request was settled already (promoted or refused): it cannot be acted on again."""


@dataclass(frozen=True)
class PromotionRequest:
    request_id: str
    model: str
    version: str
    source_env: str
    target_env: str
    status: str
    created: str
    trigger: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""
    promoted_version: str = ""
    delivery: str = ""
    delivery_detail: str = ""
    dispatch: str = ""
    dispatch_detail: str = ""

    @classmethod
    def from_run(cls, run: Any) -> PromotionRequest:
        tags = run.data.tags
        return cls(
            request_id=run.info.run_id,
            model=tags.get(TAG_MODEL, ""),
            version=tags.get(TAG_VERSION, ""),
            source_env=tags.get(TAG_FROM, ""),
            target_env=tags.get(TAG_TO, ""),
            status=tags.get(TAG_STATUS, ""),
            created=tags.get(TAG_CREATED, ""),
            trigger={k: v for k, v in tags.items() if k.startswith("trigger.")},
            reason=tags.get(TAG_REASON, ""),
            promoted_version=tags.get(TAG_PROMOTED_VERSION, ""),
            delivery=tags.get(TAG_DELIVERY, ""),
            delivery_detail=tags.get(TAG_DELIVERY_DETAIL, ""),
            dispatch=tags.get(TAG_DISPATCH, ""),
            dispatch_detail=tags.get(TAG_DISPATCH_DETAIL, ""),
        )


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def open_request(
    tracking_uri: str,
    *,
    model: str,
    version: str,
    source_env: str,
    target_env: str,
    trigger: Mapping[str, str],
    render: Callable[[str], tuple[str, Mapping[str, Any]]],
) -> PromotionRequest:
    """Record a pending request with its content, `render(request_id) -> (markdown, document)`; returns it."""
    client = _client(tracking_uri)
    tags = {
        TAG_STATUS: PENDING,
        TAG_MODEL: model,
        TAG_VERSION: str(version),
        TAG_FROM: source_env,
        TAG_TO: target_env,
        TAG_CREATED: _now(),
        TAG_DELIVERY: "none",
        **{k: v[:MAX_TAG] for k, v in trigger.items()},
        "mlflow.runName": f"request-{model}-v{version}-to-{target_env}",
    }
    run = client.create_run(experiment_id(client, EXPERIMENT), tags=tags)
    run_id = run.info.run_id
    markdown, document = render(run_id)
    client.log_text(run_id, markdown, MARKDOWN)
    client.log_text(run_id, json.dumps({**document, "request_id": run_id}, indent=1, default=str), DOCUMENT)
    client.set_terminated(run_id)
    return get_request(tracking_uri, run_id)


def get_request(tracking_uri: str, request_id: str) -> PromotionRequest:
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        run = client.get_run(request_id)
    except MlflowException as exc:
        raise RequestNotFound(f"no promotion request {request_id} on {tracking_uri}") from exc
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None or run.info.experiment_id != experiment.experiment_id:
        raise RequestNotFound(f"run {request_id} on {tracking_uri} is not a promotion request")
    return PromotionRequest.from_run(run)


def list_requests(
    tracking_uri: str,
    *,
    status: str | None = None,
    target_env: str | None = None,
    model: str | None = None,
    limit: int = 50,
) -> list[PromotionRequest]:
    """Newest first; only `status` / into `target_env` / of `model` when given."""
    client = _client(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    clauses = [f"tags.`{TAG_STATUS}` = '{status}'"] if status else []
    clauses += [f"tags.`{TAG_TO}` = '{target_env}'"] if target_env else []
    clauses += [f"tags.`{TAG_MODEL}` = '{model}'"] if model else []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=" and ".join(clauses),
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    return [PromotionRequest.from_run(r) for r in runs]


def content(tracking_uri: str, request_id: str) -> tuple[str, dict[str, Any]]:
    """The request's markdown and JSON, as recorded when it was opened."""
    import tempfile
    from pathlib import Path

    get_request(tracking_uri, request_id)
    client = _client(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="mlops-request-") as tmp:
        markdown = Path(client.download_artifacts(request_id, MARKDOWN, tmp)).read_text()
        document = json.loads(Path(client.download_artifacts(request_id, DOCUMENT, tmp)).read_text())
    return markdown, document


def settle(
    tracking_uri: str, request_id: str, status: Status, reason: str = "", promoted_version: str = ""
) -> PromotionRequest:
    """Mark a pending request promoted or refused; a settled one raises RequestSettled."""
    if status not in FINAL:
        raise ValueError(f"a request is settled as one of {', '.join(FINAL)}, not {status!r}")
    current = get_request(tracking_uri, request_id)
    if current.status != PENDING:
        raise RequestSettled(f"promotion request {request_id} is {current.status} already: nothing to do")
    tags = {TAG_STATUS: status, TAG_REASON: reason[:MAX_TAG]}
    if promoted_version:
        tags[TAG_PROMOTED_VERSION] = promoted_version
    _set_tags(tracking_uri, request_id, tags)
    return get_request(tracking_uri, request_id)


def note(tracking_uri: str, request_id: str, reason: str) -> PromotionRequest:
    """Record why an attempt left the request pending (needs approval, an error); it stays pending."""
    _set_tags(tracking_uri, request_id, {TAG_REASON: reason[:MAX_TAG]})
    return get_request(tracking_uri, request_id)


def record_delivery(tracking_uri: str, request_id: str, delivered: bool, detail: str) -> PromotionRequest:
    """How the webhook delivery went; a failed one leaves the request pending, nothing lost."""
    status = "delivered" if delivered else "failed"
    _set_tags(tracking_uri, request_id, {TAG_DELIVERY: status, TAG_DELIVERY_DETAIL: detail[:MAX_TAG]})
    return get_request(tracking_uri, request_id)


def record_dispatch(tracking_uri: str, request_id: str, dispatched: bool, detail: str) -> PromotionRequest:
    """How asking GitHub for the promotion workflow's run went; a failed one leaves the request pending."""
    status = "dispatched" if dispatched else "failed"
    _set_tags(tracking_uri, request_id, {TAG_DISPATCH: status, TAG_DISPATCH_DETAIL: detail[:MAX_TAG]})
    return get_request(tracking_uri, request_id)


def _set_tags(tracking_uri: str, request_id: str, tags: Mapping[str, str]) -> None:
    from mlflow.entities import RunTag

    _client(tracking_uri).log_batch(request_id, tags=[RunTag(k, v) for k, v in tags.items()])
