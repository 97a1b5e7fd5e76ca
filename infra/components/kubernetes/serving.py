"""ServingCluster on kubernetes: the model server Deployment, its Service, autoscaler and disruption budget.

A rollout adds a new pod before it removes an old one (maxUnavailable 0) and only counts it once
/ready answers, so a version that never gets ready stalls the rollout with the previous pods still
serving; the Deployment's await then fails `pulumi up` after `serving.readyTimeoutSeconds`.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.kubernetes import (
    APP_UID,
    container_security,
    http_probe,
    kubernetes_settings,
    labels,
    metadata,
    pod_security,
    resources,
    s3_env,
    selector,
    service_spec,
    service_url,
)
from infra.components.kubernetes.registry import pull_secret_name
from infra.components.kubernetes.tracking_database import tracking_login_file
from infra.components.types import ServingClusterArgs, ServingClusterOutputs

PORT = 8080
CACHE_MOUNT = "/var/cache/mlops/models"


def create(component: pulumi.ComponentResource, args: ServingClusterArgs) -> ServingClusterOutputs:
    s = args.settings
    sv = s.serving
    ks = kubernetes_settings(s)
    name = component.pulumi_resource_name
    log_uri = ks.prediction_log_uri
    if not args.model_uri:
        return ServingClusterOutputs(
            endpoint=pulumi.Output.from_input(""),
            model_uri=pulumi.Output.from_input(""),
            prediction_log_uri=pulumi.Output.from_input(log_uri),
        )

    service_name = f"{s.prefix}-serving"
    serving_labels = labels(s, "serving")
    pod_selector = selector(s, "serving")
    env: list[dict[str, Any]] = [
        {"name": "MLFLOW_TRACKING_URI", "value": args.tracking_uri},
        {"name": "MLOPS_MODEL_URI", "value": args.model_uri},
        {"name": "MLOPS_HOST", "value": "0.0.0.0"},
        {"name": "MLOPS_PORT", "value": str(PORT)},
        {"name": "MLOPS_WORKERS", "value": str(sv.workers)},
        {"name": "MLOPS_MODEL_CACHE", "value": CACHE_MOUNT},
        {"name": "MLOPS_PREDICTION_LOG", "value": log_uri},
        {"name": "MLOPS_PREDICTION_LOG_FORMAT", "value": sv.prediction_log.format},
        {"name": "MLOPS_PREDICTION_LOG_SAMPLE", "value": str(sv.prediction_log.sample)},
        {"name": "MLOPS_EXTRA_COLUMNS", "value": sv.extra_columns},
        {"name": "HOME", "value": "/tmp"},
        *s3_env(s),
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "model-cache", "mountPath": CACHE_MOUNT},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    volumes: list[dict[str, Any]] = [{"name": "model-cache", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    login = args.tracking_credentials
    if login is not None:
        # The tracking server's login, to download the model.
        login_env, login_mount, login_volume = tracking_login_file(
            component, service_name, ks.namespace, serving_labels, login
        )
        env += login_env
        mounts.append(login_mount)
        volumes.append(login_volume)
    spec: dict[str, Any] = {
        "replicas": sv.replicas,
        "selector": {"matchLabels": pod_selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        # Kubernetes requires the deadline to exceed minReadySeconds.
        "progressDeadlineSeconds": max(sv.ready_timeout_seconds, 30),
        "minReadySeconds": 5,
        "template": {
            "metadata": {"labels": serving_labels},
            "spec": {
                "securityContext": pod_security(APP_UID),
                "imagePullSecrets": [{"name": pull_secret_name(s.prefix)}],
                "terminationGracePeriodSeconds": 30,
                # Spread replicas over nodes so a node drain never takes all of them.
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": pod_selector},
                    }
                ],
                "containers": [
                    {
                        "name": "server",
                        "image": args.image,
                        "imagePullPolicy": ks.image_pull_policy,
                        "ports": [{"name": "http", "containerPort": PORT}],
                        "env": env,
                        "resources": resources(sv.limits, ks.request_fraction),
                        "securityContext": container_security(APP_UID, read_only_root=True),
                        # Loading a model from the registry can take a while; liveness starts after it.
                        "startupProbe": http_probe(
                            "/health", "http", period=5, failures=max(1, sv.ready_timeout_seconds // 5)
                        ),
                        "readinessProbe": http_probe("/ready", "http", period=5, failures=2),
                        "livenessProbe": http_probe("/health", "http", period=10, failures=3),
                        # Endpoints drop a terminating pod asynchronously; keep answering until they have.
                        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                        "volumeMounts": mounts,
                    }
                ],
                "volumes": volumes,
            },
        },
    }
    # With an autoscaler the count is set once, at creation; after that it is the autoscaler's to change.
    ignored = ["spec.replicas"] if ks.serving.autoscaling.enabled else []
    timeout = f"{sv.ready_timeout_seconds + 60}s"
    deployment = k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata=metadata(service_name, ks.namespace, serving_labels),
        spec=spec,
        opts=pulumi.ResourceOptions(
            parent=component,
            custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
            ignore_changes=ignored,
        ),
    )
    service = k8s.core.v1.Service(
        f"{name}-service",
        metadata=metadata(service_name, ks.namespace, serving_labels),
        spec=service_spec(pod_selector, ks.serving.port, ks.serving.node_port),
        opts=pulumi.ResourceOptions(parent=component, depends_on=[deployment]),
    )
    scaling = ks.serving.autoscaling
    if scaling.enabled:
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-autoscaler",
            metadata=metadata(service_name, ks.namespace, serving_labels),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment.metadata.name},
                "minReplicas": sv.replicas,
                "maxReplicas": scaling.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": scaling.cpu_utilization},
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=component),
        )
    k8s.policy.v1.PodDisruptionBudget(
        f"{name}-disruption-budget",
        metadata=metadata(service_name, ks.namespace, serving_labels),
        spec={"selector": {"matchLabels": pod_selector}, "maxUnavailable": ks.serving.max_unavailable},
        opts=pulumi.ResourceOptions(parent=component),
    )

    internal = service_url(service_name, ks.namespace, ks.serving.port)
    return ServingClusterOutputs(
        endpoint=pulumi.Output.from_input(ks.serving.public_url)
        if ks.serving.public_url
        else service.metadata.apply(lambda _: internal),
        model_uri=pulumi.Output.from_input(args.model_uri),
        prediction_log_uri=pulumi.Output.from_input(log_uri),
    )
