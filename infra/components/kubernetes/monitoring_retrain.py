"""What the scheduled monitor needs to retrain, when the stack says so (`mlops:monitoring.retrain.trainConfig`).

The monitor's pod starts the retraining Job itself (`ml.jobs.scheduled`), so the program renders for it:
a ConfigMap with the environment's name, the `training` job spec that `mlops train` reads from the stack
outputs (the same Job, image, ServiceAccount, resources, deadlines, Secrets by reference), and the model's
training config and dataset spec, read from the project at `up`; and a Role in the training namespace that
lets the monitor's ServiceAccount create Jobs and their files' ConfigMaps and read Jobs, nothing else (no
delete, no logs, no Secrets, nothing in any other namespace). Its pod then mounts its ServiceAccount token.

When the stack announces promotion requests on a webhook (`mlops:monitoring.promotionRequest.webhookUrl`), the
pod also mounts `mlops:monitoring.webhookSecret` as a file (a Secret of its own) to sign them, and may reach the
webhook's port.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s

from contract import monitor_env
from infra.components.kubernetes import metadata
from infra.components.kubernetes.tracking_database import SECRET_MODE
from infra.components.retrain_files import model_files
from infra.settings import Settings

MOUNT = "/etc/mlops/retrain"
WEBHOOK_MOUNT, WEBHOOK_FILE = "/etc/mlops/webhook", "secret"
SETUP_FILE, TRAIN_CONFIG, DATASET_SPEC = (
    monitor_env.RETRAIN_SETUP_FILE,
    monitor_env.RETRAIN_TRAIN_CONFIG,
    monitor_env.RETRAIN_DATASET_SPEC,
)
API_PORTS = (443, 6443)
"""The API server as a pod reaches it: its Service's port, and the port of the endpoint behind it (a NetworkPolicy
judges the address after the Service's translation)."""


def retrain_setup(
    component: pulumi.ComponentResource,
    s: Settings,
    *,
    object_name: str,
    namespace: str,
    training_namespace: str,
    object_labels: dict[str, str],
    account: pulumi.Input[str],
    job_spec: pulumi.Input[Mapping[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ConfigMap and the Role; returns the pod's (volume mount, volume)."""
    name = component.pulumi_resource_name
    opts = pulumi.ResourceOptions(parent=component)
    files = model_files(s)
    setup = pulumi.Output.from_input(job_spec).apply(
        lambda spec: json.dumps({"environment": s.stack, "training": spec}, sort_keys=True)
    )
    config_map = k8s.core.v1.ConfigMap(
        f"{name}-retrain",
        metadata=metadata(f"{object_name}-retrain", namespace, object_labels),
        data={SETUP_FILE: setup, **files},
        opts=opts,
    )
    role = k8s.rbac.v1.Role(
        f"{name}-retrain-role",
        metadata=metadata(f"{object_name}-retrain", training_namespace, object_labels),
        rules=[
            # Create the retrain Job and read its state (and whether one runs already); never delete one.
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list"]},
            # The Job's files (training config, dataset spec, job context: nothing secret), owned by the Job.
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        ],
        opts=opts,
    )
    k8s.rbac.v1.RoleBinding(
        f"{name}-retrain-binding",
        metadata=metadata(f"{object_name}-retrain", training_namespace, object_labels),
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
        subjects=[{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        opts=opts,
    )
    mount = {"name": "retrain", "mountPath": MOUNT, "readOnly": True}
    volume = {"name": "retrain", "configMap": {"name": config_map.metadata.name, "defaultMode": 0o444}}
    return mount, volume


def egress_to_api() -> dict[str, Any]:
    return {"ports": [{"protocol": "TCP", "port": port} for port in API_PORTS]}


def egress_to(url: str) -> dict[str, Any]:
    """The rule that reaches `url`'s port: at its address when the host is an IP, else anywhere (a NetworkPolicy
    cannot name a host, and a cloud endpoint's addresses change)."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    rule: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": port}]}
    try:
        address = ipaddress.ip_address(parsed.hostname or "")
    except ValueError:
        return rule
    suffix = 32 if address.version == 4 else 128
    return {**rule, "to": [{"ipBlock": {"cidr": f"{address}/{suffix}"}}]}


def webhook_secret_file(
    component: pulumi.ComponentResource, s: Settings, *, object_name: str, namespace: str, object_labels: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The webhook secret as a Secret of the monitor's own, mounted as a file; returns the container's env entry,
    its volume mount and the volume."""
    assert s.secrets.webhook_secret is not None, "settings require the webhook secret with a webhook URL"
    secret = k8s.core.v1.Secret(
        f"{component.pulumi_resource_name}-webhook",
        metadata=metadata(f"{object_name}-webhook", namespace, object_labels),
        string_data={WEBHOOK_FILE: s.secrets.webhook_secret},
        opts=pulumi.ResourceOptions(parent=component, additional_secret_outputs=["stringData", "data"]),
    )
    env = {"name": monitor_env.WEBHOOK_SECRET_FILE_ENV, "value": f"{WEBHOOK_MOUNT}/{WEBHOOK_FILE}"}
    mount = {"name": "webhook", "mountPath": WEBHOOK_MOUNT, "readOnly": True}
    volume = {
        "name": "webhook",
        "secret": {
            "secretName": secret.metadata.name,
            "items": [{"key": WEBHOOK_FILE, "path": WEBHOOK_FILE}],
            "defaultMode": SECRET_MODE,
        },
    }
    return env, mount, volume
