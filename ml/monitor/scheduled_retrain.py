"""The closed loop of a scheduled pass: retrain as a job on the training cluster, then a promotion request.

What `mlops monitor --env ENV --retrain` does from the operator's machine (`mlops.loop.close`), done from the
scheduled monitor when the stack retrains (`mlops:monitoring.retrain`): the window's labelled rows (plus the
reference data with `includeReference`, `ml.monitor.retrain.assemble`) uploaded once per content hash to the
environment's artifact store, a training job started (kubernetes: a Job, with the pod's ServiceAccount; docker:
a container, by the stack's job gate; `ml.jobs.scheduled.JobRunner`), the
trigger tags on its run and registered version, and, once the job registered a challenger, the same pending
request in `mlops-promotion-requests` (`ml.promote.request_content.open_request`), announced on the stack's
webhook when it has one (signed with the secret the stack mounts). It waits for the job, so the request follows
the challenger within the pass; the CronJob's deadline leaves room for it.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contract import TAG_GATES_PASSED, monitor_env
from ml.gitinfo import UNKNOWN
from ml.jobs import scheduled
from ml.jobs.request import JobRequest, job_args, write_job_files
from ml.jobs.spec import TAG_JOB_NAME, job_context_json, job_labels, job_name, job_tags

if TYPE_CHECKING:
    from ml.monitor.judge import MonitorOutcome
    from ml.monitor.loop_policy import PromotionRequestPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainTurn:
    """How far a scheduled turn of the loop went; each field empty where it stopped."""

    reason: str
    job: str = ""
    job_state: str = ""
    version: str = ""
    request_id: str = ""
    delivery: str = ""
    """How the announcement on the stack's webhook went ("" when the stack has none)."""


def _registered_version(tracking_uri: str, model: str, job: str) -> tuple[str, bool] | None:
    """(version, gates passed) of what the job registered, found by the `job.name` tag it sets."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    for found in client.search_model_versions(f"name = '{model}'"):
        if found.tags.get(TAG_JOB_NAME) == job:
            return str(found.version), found.tags.get(TAG_GATES_PASSED) == "true"
    return None


def _job_request(
    scratch: Path,
    outcome: MonitorOutcome,
    monitoring_run_id: str,
    *,
    tracking_uri: str,
    log_uri: str,
    setup: scheduled.RetrainSetup,
) -> tuple[JobRequest, dict[str, str]]:
    """The retrain's rows uploaded, and the job's request: its files in `scratch`, the trigger in its tags."""
    from ml.jobs.datasets import upload_dataset
    from ml.monitor.retrain import assemble, trigger_tags, write_training_inputs

    spec, model = setup.spec, outcome.request.model
    data = assemble(outcome, log_uri=log_uri, train_config=setup.train_config)
    trigger = trigger_tags(outcome, monitoring_run_id)
    name = job_name(spec, model)
    config_path = write_training_inputs(data, setup.train_config, scratch)
    uploaded = upload_dataset(scratch / "retrain-data.parquet", tracking_uri)
    log.info("retraining %s on %d rows (%s), uploaded as %s", model, len(data.frame), data.uri, uploaded.uri)
    context = job_context_json({**trigger, **job_tags(spec, name)}, UNKNOWN, None, uploaded.uri, uploaded.sha256)
    files = scratch / "job"
    files.mkdir()
    write_job_files(files, config_path, scratch / "retrain-dataset.yaml", context)
    return JobRequest(name, job_args(spec, None), files, job_labels(spec, name)), trigger


def retrain_after_pass(
    outcome: MonitorOutcome,
    monitoring_run_id: str,
    *,
    tracking_uri: str,
    log_uri: str,
    setup: scheduled.RetrainSetup,
    runner: scheduled.JobRunner | None = None,
    webhook_secret_file: Path | None = None,
) -> RetrainTurn:
    """One turn after a pass; raises only for what the pass's caller logs as a failed retrain."""
    from ml.promote.request_content import OPENED_BY_SCHEDULE, open_request

    wanted, reason = outcome.retrain
    model = outcome.request.model
    if not wanted:
        return RetrainTurn(f"no retrain: {reason}")
    if outcome.request.labels is None:
        return RetrainTurn("no retrain: the window has no labels (set mlops:monitoring.labels)")
    runner = runner or setup.runner()
    running = runner.running(model)
    if running:
        log.info("no retrain of %s: its retrain job %s is still running", model, running)
        return RetrainTurn(f"no retrain: job {running} still runs", job=running)
    with tempfile.TemporaryDirectory(prefix="mlops-retrain-") as tmp:
        request, trigger = _job_request(
            Path(tmp), outcome, monitoring_run_id, tracking_uri=tracking_uri, log_uri=log_uri, setup=setup
        )
        runner.start(request, model)
    log.info("started retrain job %s of %s because %s", request.name, model, reason)
    state = runner.wait(request.name)
    turn = RetrainTurn(reason, job=request.name, job_state=state)
    found = _registered_version(tracking_uri, model, request.name) if state == scheduled.COMPLETE else None
    if found is None:
        log.error("retrain job %s of %s ended %s without a registered version", request.name, model, state)
        return turn
    version, passed = found
    policy = outcome.request.thresholds
    if not passed or not policy.promote_to:
        why = "its gates failed" if not passed else "the stack sets no mlops:monitoring.promoteTo"
        log.info("registered %s version %s; no promotion request: %s", model, version, why)
        return RetrainTurn(reason, request.name, state, version)
    opened = open_request(
        tracking_uri,
        model=model,
        version=version,
        source_env=setup.environment,
        target_env=policy.promote_to,
        trigger=trigger,
        opened_by=OPENED_BY_SCHEDULE,
    )
    log.info(
        "registered %s version %s as challenger; promotion request %s (%s -> %s) is pending",
        model,
        version,
        opened.request_id,
        setup.environment,
        policy.promote_to,
    )
    delivery = _announce(tracking_uri, opened.request_id, policy.promotion_request, webhook_secret_file)
    return RetrainTurn(reason, request.name, state, version, opened.request_id, delivery)


def _announce(tracking_uri: str, request_id: str, policy: PromotionRequestPolicy, secret_file: Path | None) -> str:
    """The request announced on the stack's webhook, as `mlops monitor --retrain` announces it; how it went is
    recorded on the request (a failure leaves it pending, nothing lost) and returned."""
    from ml.promote import promotion_requests
    from ml.promote.request_content import announce

    if not policy.webhook_url:
        return ""
    try:
        if secret_file is None:
            raise OSError(f"{monitor_env.WEBHOOK_SECRET_FILE_ENV} is not set")
        secret = secret_file.read_text().strip()
    except OSError as exc:
        detail = f"webhook not called: no webhook secret ({exc}); the stack sets it as mlops:monitoring.webhookSecret"
        log.error("promotion request %s: %s", request_id, detail)
        promotion_requests.record_delivery(tracking_uri, request_id, False, detail)
        return detail
    delivery = announce(tracking_uri, request_id, policy, secret)
    level = logging.INFO if delivery.delivered else logging.WARNING
    log.log(level, "promotion request %s announced on the webhook: %s", request_id, delivery.detail)
    return ("delivered: " if delivery.delivered else "failed: ") + delivery.detail
