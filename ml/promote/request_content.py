"""The content of a promotion request: the combined comment's model section (metrics and gates of the
serving champion and the retrained challenger side by side, `ml.promote.model_section`) under a heading
that says what triggered it, as markdown, and the same as JSON for a webhook's receiver (`announce`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from contract import (
    CHAMPION,
    TAG_TRIGGER_DRIFTED_FEATURES,
    TAG_TRIGGER_KIND,
    TAG_TRIGGER_MONITORING_RUN_ID,
    TAG_TRIGGER_WINDOW,
    ModelRef,
)
from ml.markdown import cell, code

if TYPE_CHECKING:
    from ml.monitor.loop_policy import PromotionRequestPolicy
    from ml.promote.promotion_requests import PromotionRequest
    from ml.promote.webhook import Delivery

MARKER = "<!-- mlops:loop:promotion-request -->"
KIND = "promotion-request"
OPENED_BY_OPERATOR = "`mlops monitor --retrain`"
OPENED_BY_SCHEDULE = "the scheduled monitor"


def promote_command(request_id: str, source_env: str) -> str:
    return f"mlops promote --request {request_id} --env {source_env}"


def _trigger_lines(trigger: Mapping[str, str]) -> list[str]:
    kind = trigger.get(TAG_TRIGGER_KIND, "?")
    why = "live model quality fell below the registered metrics" if kind == "quality" else "drift"
    features = trigger.get(TAG_TRIGGER_DRIFTED_FEATURES) or "none"
    return [
        f"**Triggered by** {cell(why)} in the window {code(trigger.get(TAG_TRIGGER_WINDOW, '?'))} "
        f"(monitoring run {code(trigger.get(TAG_TRIGGER_MONITORING_RUN_ID, '?'))}).",
        "",
        f"Drifted features: {cell(features)}.",
        "",
    ]


def render(
    *,
    request_id: str,
    tracking_uri: str,
    model: str,
    version: str,
    source_env: str,
    target_env: str,
    trigger: Mapping[str, str],
    opened_by: str = OPENED_BY_OPERATOR,
) -> tuple[str, dict[str, Any]]:
    """(markdown, document) of one request; the comparison is read from the source environment's registry."""
    from ml.promote.model_change import ModelRefChange, compare
    from ml.promote.model_section import model_section
    from ml.promote.versions import find_alias

    champion = find_alias(tracking_uri, model, CHAMPION)
    old = ModelRef.pinned(model, champion.version).uri if champion else None
    new = ModelRef.pinned(model, version).uri
    change = ModelRefChange(old=old, new=new, source=f"{source_env}, proposed for {target_env}")
    comparison = compare(change, tracking_uri)
    command = promote_command(request_id, source_env)
    lines = [
        MARKER,
        f"## Promotion request: {code(model)} v{version}, {code(source_env)} → {code(target_env)}",
        "",
        *_trigger_lines(trigger),
        *model_section(comparison),
        f"To promote it through {code(target_env)}'s gates and approval: {code(command)}",
        "",
        f"<sub>Request {code(request_id)}, opened by {opened_by}; it never promotes by itself.</sub>",
    ]
    markdown = "\n".join(lines) + "\n"
    document = {
        "kind": KIND,
        "request_id": request_id,
        "model": model,
        "version": str(version),
        "from_env": source_env,
        "to_env": target_env,
        "trigger": dict(trigger),
        "comparison": asdict(comparison),
        "promote_command": command,
        "markdown": markdown,
    }
    return markdown, document


def open_request(
    tracking_uri: str,
    *,
    model: str,
    version: str,
    source_env: str,
    target_env: str,
    trigger: dict[str, str],
    opened_by: str = OPENED_BY_OPERATOR,
) -> PromotionRequest:
    """A pending request for `model` `version` on `tracking_uri`, with the combined comment as its content:
    the one call both routes make (`mlops monitor --retrain` and the scheduled monitor)."""
    from ml.promote import promotion_requests

    def content(request_id: str) -> tuple[str, dict[str, object]]:
        return render(
            request_id=request_id,
            tracking_uri=tracking_uri,
            model=model,
            version=version,
            source_env=source_env,
            target_env=target_env,
            trigger=trigger,
            opened_by=opened_by,
        )

    return promotion_requests.open_request(
        tracking_uri,
        model=model,
        version=version,
        source_env=source_env,
        target_env=target_env,
        trigger=trigger,
        render=content,
    )


def announce(tracking_uri: str, request_id: str, policy: PromotionRequestPolicy, secret: str) -> Delivery:
    """POST the request's recorded JSON to `policy.webhook_url`, signed with `secret`, and record on the request how
    it went (a failed delivery leaves it pending): what both routes do once they opened a request."""
    import json

    from ml.promote import promotion_requests
    from ml.promote.webhook import deliver

    assert policy.webhook_url is not None
    _, document = promotion_requests.content(tracking_uri, request_id)
    body = json.dumps(document, sort_keys=True).encode()
    delivery = deliver(policy.webhook_url, body, secret, attempts=policy.attempts, timeout_s=policy.timeout_s)
    promotion_requests.record_delivery(tracking_uri, request_id, delivery.delivered, delivery.detail)
    return delivery
