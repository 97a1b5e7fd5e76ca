"""MonitoringSchedule on kubernetes: a CronJob in the platform namespace that runs the monitor on the schedule.

Each tick starts one Job (`concurrencyPolicy: Forbid`: a pass still running makes the next tick skip, so two
passes never judge the same window at once) whose pod runs `python -m ml.monitor` from the trainer image. The
pod runs as a ServiceAccount of its own without an API token (it never talks to the Kubernetes API) and with
no Role: what it reads and writes are the prediction log in S3, with the artifact store's credentials by
reference, and the tracking server, with a login Secret of its own mounted as a file. A NetworkPolicy lets it
reach exactly those two, plus DNS to find them. When the stack retrains from the schedule
(`monitoring_retrain`), the pod also mounts its token, may start retraining Jobs in the training namespace and
nothing else there, and reaches the API server; its deadline then covers a training Job's too. With a webhook,
it mounts the webhook secret and reaches the webhook's port.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from contract import monitor_env
from infra.components.kubernetes import (
    APP_UID,
    container_security,
    kubernetes_settings,
    labels,
    metadata,
    pod_security,
    resources,
    s3_env,
    selector,
)
from infra.components.kubernetes.monitoring_retrain import (
    egress_to,
    egress_to_api,
    retrain_setup,
    webhook_secret_file,
)
from infra.components.kubernetes.registry import pull_secret_name
from infra.components.kubernetes.tracking import MLFLOW_PORT
from infra.components.kubernetes.tracking_database import tracking_login_file
from infra.components.types import MONITOR_CPUS, MONITOR_MEMORY_MB, MonitoringScheduleArgs, MonitoringScheduleOutputs
from infra.settings import Limits

COMPONENT = "monitor"
COMMAND = ["python", "-m", "ml.monitor"]
HISTORY = 3
"""Finished Jobs kept per outcome, for `kubectl logs` of the last few passes."""
STARTING_DEADLINE_SECONDS = 300
"""A tick missed by more than this (the controller was down) is skipped, not run late."""
ACTIVE_DEADLINE_SECONDS = 1800
"""A pass that runs longer than this is stopped: it would hold up every later tick (Forbid)."""


def create(component: pulumi.ComponentResource, args: MonitoringScheduleArgs) -> MonitoringScheduleOutputs:
    s = args.settings
    ks = kubernetes_settings(s)
    name = component.pulumi_resource_name
    object_name = f"{s.prefix}-{COMPONENT}"
    monitor_labels = labels(s, COMPONENT)
    opts = pulumi.ResourceOptions(parent=component)

    retrains = s.monitoring.retrains and args.training_job_spec is not None
    account = k8s.core.v1.ServiceAccount(
        f"{name}-account",
        metadata=metadata(object_name, ks.namespace, monitor_labels),
        # A token only where the pod talks to the API server: to start a retraining Job.
        automount_service_account_token=retrains,
        image_pull_secrets=[{"name": pull_secret_name(s.prefix)}],
        opts=opts,
    )
    env: list[dict[str, Any]] = [
        {"name": monitor_env.TRACKING_URI_ENV, "value": args.tracking_uri},
        {"name": monitor_env.MODEL_URI_ENV, "value": args.model_uri},
        {"name": monitor_env.PREDICTION_LOG_ENV, "value": args.prediction_log_uri},
        {"name": monitor_env.THRESHOLDS_ENV, "value": json.dumps(s.monitoring.thresholds, sort_keys=True)},
        {"name": monitor_env.OUT_DIR_ENV, "value": "/tmp/monitoring"},
        {"name": "HOME", "value": "/tmp"},
        *s3_env(s),
    ]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    login = args.tracking_credentials
    if login is not None:
        login_env, login_mount, login_volume = tracking_login_file(
            component, object_name, ks.namespace, monitor_labels, login
        )
        env += login_env
        mounts.append(login_mount)
        volumes.append(login_volume)
    deadline = ACTIVE_DEADLINE_SECONDS
    if retrains:
        assert args.training_job_spec is not None
        retrain_mount, retrain_volume = retrain_setup(
            component,
            s,
            object_name=object_name,
            namespace=ks.namespace,
            training_namespace=ks.training.namespace,
            object_labels=monitor_labels,
            account=account.metadata.name,
            job_spec=args.training_job_spec,
        )
        env.append({"name": monitor_env.RETRAIN_DIR_ENV, "value": retrain_mount["mountPath"]})
        mounts.append(retrain_mount)
        volumes.append(retrain_volume)
        # The pass waits for the retraining Job it started, to open the promotion request once it registered.
        deadline += ks.training.active_deadline_seconds
    announces = s.monitoring.webhook_url if retrains else ""
    if announces:
        webhook_env, webhook_mount, webhook_volume = webhook_secret_file(
            component, s, object_name=object_name, namespace=ks.namespace, object_labels=monitor_labels
        )
        env.append(webhook_env)
        mounts.append(webhook_mount)
        volumes.append(webhook_volume)
    pod = {
        "metadata": {"labels": monitor_labels},
        "spec": {
            "serviceAccountName": account.metadata.name,
            "automountServiceAccountToken": retrains,
            "restartPolicy": "Never",
            "securityContext": pod_security(APP_UID),
            "imagePullSecrets": [{"name": pull_secret_name(s.prefix)}],
            "containers": [
                {
                    "name": COMPONENT,
                    "image": args.image,
                    "imagePullPolicy": ks.image_pull_policy,
                    "command": COMMAND,
                    "env": env,
                    "resources": resources(Limits(cpus=MONITOR_CPUS, memory_mb=MONITOR_MEMORY_MB), ks.request_fraction),
                    "securityContext": container_security(APP_UID, read_only_root=True),
                    "volumeMounts": mounts,
                }
            ],
            "volumes": volumes,
        },
    }
    cron_job = k8s.batch.v1.CronJob(
        f"{name}-cronjob",
        metadata=metadata(object_name, ks.namespace, monitor_labels),
        spec={
            "schedule": s.monitoring.schedule,
            # The schedule is UTC wherever the controller runs, as GitHub and the docker scheduler read it.
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": HISTORY,
            "failedJobsHistoryLimit": HISTORY,
            "jobTemplate": {
                "metadata": {"labels": monitor_labels},
                "spec": {
                    # A pass that finds drift exits 3: a finding, not a crash to retry; the next tick comes anyway.
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": deadline,
                    "template": pod,
                },
            },
        },
        opts=opts,
    )
    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    tracking = {
        "to": [{"podSelector": {"matchLabels": selector(s, "tracking")}}],
        "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}],
    }
    k8s.networking.v1.NetworkPolicy(
        f"{name}-egress",
        metadata=metadata(object_name, ks.namespace, monitor_labels),
        spec={
            "podSelector": {"matchLabels": selector(s, COMPONENT)},
            "policyTypes": ["Ingress", "Egress"],
            # Nothing reaches the monitor; it reaches the tracking server, the prediction log's S3 and DNS (and,
            # when it retrains, the API server and the webhook it announces on).
            "ingress": [],
            "egress": [
                tracking,
                egress_to(ks.artifacts.endpoint),
                dns,
                *([egress_to_api()] if retrains else []),
                *([egress_to(announces)] if announces else []),
            ],
        },
        opts=opts,
    )
    return MonitoringScheduleOutputs(runner=cron_job.metadata.apply(lambda m: m["name"]))
