"""`mlops promote --request ID --env ENV`: the promotion a request asks for, through the target's normal gates
and approval (`ml.promote.flow.promote`), then the request settled by the outcome.

Promoted: marked promoted with the target's new version. Refused by a gate: marked refused with the gate's
reason. Anything else (needs approval, another promotion holds the target, a rollout rolled back) leaves it
pending with what the attempt said, so it can be tried again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ml.promote import promotion_requests as requests

Say = Callable[[str], None]


def promote_requested(
    request_id: str,
    env: str,
    *,
    approved_by: str | None,
    say: Say,
    target_for: Callable[[str], Any],
    expect_target: str | None = None,
) -> Any:
    """The promotion's report; raises RequestNotFound, RequestSettled, or RequestTargetMismatch for a request into
    another environment than `expect_target` (a workflow run approved for one environment), before anything changes."""
    from ml.promote.flow import Outcome, promote
    from mlops.stacks import resolve

    tracking_uri = resolve(env).tracking_uri
    request = requests.get_request(tracking_uri, request_id)
    if request.status != requests.PENDING:
        raise requests.RequestSettled(
            f"promotion request {request_id} is {request.status} already ({request.reason or 'no reason recorded'})"
        )
    if expect_target and request.target_env != expect_target:
        raise requests.RequestTargetMismatch(
            f"promotion request {request_id} asks for {request.target_env}, not {expect_target}: nothing promoted. "
            f"Run it with --to {request.target_env} (approved for that environment), or open a request into "
            f"{expect_target}"
        )
    say(
        f"promotion request {request_id}: {request.model} v{request.version} from {request.source_env} "
        f"to {request.target_env}, opened {request.created}"
    )
    report = promote(
        request.model,
        request.source_env,
        tracking_uri,
        target_for(request.target_env),
        version=request.version,
        alias=None,
        approved_by=approved_by,
        say=say,
    )
    if report.outcome == Outcome.PROMOTED:
        requests.settle(tracking_uri, request_id, requests.PROMOTED, report.message, report.version)
        say(f"promotion request {request_id} is promoted")
    elif report.outcome == Outcome.REFUSED:
        requests.settle(tracking_uri, request_id, requests.REFUSED, report.message)
        say(f"promotion request {request_id} is refused: {report.message}")
    else:
        requests.note(tracking_uri, request_id, f"{report.outcome.name.lower()}: {report.message}")
        say(f"promotion request {request_id} stays pending ({report.outcome.name.lower()})")
    return report
