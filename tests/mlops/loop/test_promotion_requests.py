"""Promotion requests on a real MLflow server: opened pending with their content, settled once (promoted or
refused), noted without settling, and the webhook's outcome recorded on them."""

from __future__ import annotations

import uuid

import pytest

from contract import TAG_TRIGGER_DRIFTED_FEATURES, TAG_TRIGGER_KIND
from ml.promote import promotion_requests as requests

pytestmark = pytest.mark.integration

TRIGGER = {TAG_TRIGGER_KIND: "drift", TAG_TRIGGER_DRIFTED_FEATURES: "age,income"}


def _open(tracking_uri: str, model: str, version: str = "2") -> requests.PromotionRequest:
    def render(request_id: str) -> tuple[str, dict[str, object]]:
        return f"## request {request_id}\n", {"kind": "promotion-request", "model": model}

    return requests.open_request(
        tracking_uri,
        model=model,
        version=version,
        source_env="dev",
        target_env="staging",
        trigger=TRIGGER,
        render=render,
    )


def test_a_request_opens_pending_with_its_trigger_and_content(mlflow_server: str, model_name: str) -> None:
    opened = _open(mlflow_server, model_name)
    assert (opened.status, opened.model, opened.version) == ("pending", model_name, "2")
    assert (opened.source_env, opened.target_env, opened.delivery) == ("dev", "staging", "none")
    assert dict(opened.trigger) == TRIGGER
    markdown, document = requests.content(mlflow_server, opened.request_id)
    assert markdown == f"## request {opened.request_id}\n"
    assert document == {"kind": "promotion-request", "model": model_name, "request_id": opened.request_id}
    listed = requests.list_requests(mlflow_server, status="pending", model=model_name)
    assert [r.request_id for r in listed] == [opened.request_id]


def test_promoted_is_final(mlflow_server: str, model_name: str) -> None:
    opened = _open(mlflow_server, model_name)
    done = requests.settle(mlflow_server, opened.request_id, "promoted", "m v3 is champion in staging", "3")
    assert (done.status, done.promoted_version, done.reason) == ("promoted", "3", "m v3 is champion in staging")
    with pytest.raises(requests.RequestSettled, match="is promoted already"):
        requests.settle(mlflow_server, opened.request_id, "refused", "late")
    assert requests.get_request(mlflow_server, opened.request_id).status == "promoted"
    assert requests.list_requests(mlflow_server, status="pending", model=model_name) == []


def test_refused_is_final_and_keeps_the_gates_reason(mlflow_server: str, model_name: str) -> None:
    opened = _open(mlflow_server, model_name)
    refused = requests.settle(mlflow_server, opened.request_id, "refused", "refused: threshold:roc_auc: 0.7 < 0.8")
    assert (refused.status, refused.reason) == ("refused", "refused: threshold:roc_auc: 0.7 < 0.8")
    with pytest.raises(requests.RequestSettled, match="is refused already"):
        requests.settle(mlflow_server, opened.request_id, "promoted")


def test_a_note_keeps_it_pending_and_pending_is_no_settlement(mlflow_server: str, model_name: str) -> None:
    opened = _open(mlflow_server, model_name)
    noted = requests.note(mlflow_server, opened.request_id, "needs_approval: staging requires an approval")
    assert (noted.status, noted.reason) == ("pending", "needs_approval: staging requires an approval")
    with pytest.raises(ValueError, match="not 'pending'"):
        requests.settle(mlflow_server, opened.request_id, "pending")  # type: ignore[arg-type]
    assert requests.settle(mlflow_server, opened.request_id, "promoted").status == "promoted"


def test_a_failed_delivery_is_recorded_and_the_request_stays_pending(mlflow_server: str, model_name: str) -> None:
    opened = _open(mlflow_server, model_name)
    failed = requests.record_delivery(mlflow_server, opened.request_id, False, "HTTP 500 after 3 attempt(s)")
    assert (failed.status, failed.delivery, failed.delivery_detail) == (
        "pending",
        "failed",
        "HTTP 500 after 3 attempt(s)",
    )
    delivered = requests.record_delivery(mlflow_server, opened.request_id, True, "HTTP 200")
    assert (delivered.status, delivered.delivery) == ("pending", "delivered")


def test_an_unknown_id_and_a_run_that_is_no_request_are_not_found(mlflow_server: str) -> None:
    from mlflow import MlflowClient

    with pytest.raises(requests.RequestNotFound, match="no promotion request"):
        requests.get_request(mlflow_server, "0" * 32)
    client = MlflowClient(tracking_uri=mlflow_server)
    other = client.create_run(client.create_experiment(f"not-requests-{uuid.uuid4().hex[:8]}"))
    with pytest.raises(requests.RequestNotFound, match="is not a promotion request"):
        requests.get_request(mlflow_server, other.info.run_id)
