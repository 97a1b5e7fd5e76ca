"""A promotion request as a GitHub workflow run: `workflow_dispatch` of the repository's promotion workflow.

`POST {api}/repos/{owner}/{name}/actions/workflows/{workflow}/dispatches` with the ref and the inputs
`promote.yml` takes (`model`, `from`, `to`, and `request`, the request's id); GitHub answers 204 and queues the
run. The run shows the request's comment in its summary and promotes it with `mlops promote --request`, so its
gates and the target GitHub environment's reviewers decide; nothing here promotes. Bounded retries as for the
webhook (`ml.promote.webhook.post`); a dispatch that fails is reported, never raised.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ml.promote.webhook import Delivery, post

if TYPE_CHECKING:
    from ml.monitor.loop_policy import GitHubDispatch
    from ml.promote.promotion_requests import PromotionRequest

API_VERSION = "2022-11-28"


def inputs(request: PromotionRequest) -> dict[str, str]:
    """The workflow's inputs for `request` (GitHub passes every input as a string)."""
    return {
        "model": request.model,
        "from": request.source_env,
        "to": request.target_env,
        "request": request.request_id,
    }


def dispatch(
    target: GitHubDispatch,
    token: str,
    request: PromotionRequest,
    *,
    attempts: int = 3,
    timeout_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Queue a run of `target.workflow` on `target.ref` for `request`."""
    url = f"{target.api_url.rstrip('/')}/repos/{target.repository}/actions/workflows/{target.workflow}/dispatches"
    body = json.dumps({"ref": target.ref, "inputs": inputs(request)}).encode()
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "mlops-platform",
    }
    shown = f"{target.repository} {target.workflow}@{target.ref}"
    return post(url, body, headers, attempts=attempts, timeout_s=timeout_s, sleep=sleep, shown_as=shown)
