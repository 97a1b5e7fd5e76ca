"""The kubernetes target: every component as namespaced Kubernetes objects on the stack's cluster.

`foundation` creates the platform and training namespaces and the provider every component's children
use, which depends on both, so nothing namespaced is applied before its namespace exists. The cluster
is the operator's kubeconfig (`mlops:kubernetes.context` picks a context). Every object gets an
explicit name, so `mlops` finds Services, namespaces and the training ServiceAccount from stack
outputs, and the standard `app.kubernetes.io/*` labels the policy pack and `kubectl` selectors use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.types import Foundation
from infra.settings import KubernetesSettings, Limits, Settings

PART_OF = "mlops-platform"
# The platform images run as this numeric user (USER 10001:10001 in infra/images); numeric so the kubelet
# can verify runAsNonRoot.
APP_UID = 10001
VOLUME_OWNER = "volume-owner"


def labels(settings: Settings, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/instance": f"{PART_OF}-{settings.stack}",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(settings: Settings, component: str) -> dict[str, str]:
    """The immutable subset of `labels` a Deployment or StatefulSet selects its pods by."""
    full = labels(settings, component)
    return {key: full[key] for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}


def metadata(name: str, namespace: str | pulumi.Input[str], object_labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(object_labels)}


def ingress_only_from(
    resource_name: str,
    meta: dict[str, Any],
    pod_selector: Mapping[str, str],
    peers: list[dict[str, Any]],
    port: int,
    parent: pulumi.Resource,
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy under which only `peers` reach TCP `port` of the pods `pod_selector` picks."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=meta,
        spec={
            "podSelector": {"matchLabels": dict(pod_selector)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": [{"protocol": "TCP", "port": port}]}],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )


def cpu(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def memory(mebibytes: int) -> str:
    return f"{mebibytes}Mi"


def resources(limits: Limits, fraction: float = 1.0) -> dict[str, Any]:
    """Requests equal to limits (Guaranteed QoS, so a loaded node evicts these pods last), or
    `fraction` of them (`mlops:kubernetes.requestFraction`: several environments on one small node)."""
    quantities = {"cpu": cpu(limits.cpus), "memory": memory(limits.memory_mb)}
    if fraction >= 1.0:
        return {"requests": dict(quantities), "limits": dict(quantities)}
    requests = {
        "cpu": cpu(max(limits.cpus * fraction, 0.01)),
        "memory": memory(max(int(limits.memory_mb * fraction), 16)),
    }
    return {"requests": requests, "limits": quantities}


def volume_owner(image: pulumi.Input[str], mount: str, uid: int = APP_UID) -> dict[str, Any]:
    """An init container that gives a data volume to the non-root `uid`: some provisioners (host-path)
    make root-owned 0750 directories and ignore fsGroup. It runs as root with CHOWN and FOWNER only,
    changes nothing but the volume's top directory, and is named so the policy pack recognises it."""
    return {
        "name": VOLUME_OWNER,
        "image": image,
        "command": ["chown", f"{uid}:{uid}", mount],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "data", "mountPath": mount}],
    }


def container_security(uid: int = APP_UID, read_only_root: bool = True) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid: int = APP_UID) -> dict[str, Any]:
    """fsGroup makes mounted volumes writable by the non-root user."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(
    path: str, port: int | str, period: int = 10, failures: int = 3, delay: int = 0, host: str = ""
) -> dict[str, Any]:
    get: dict[str, Any] = {"path": path, "port": port}
    if host:
        get["httpHeaders"] = [{"name": "Host", "value": host}]
    return {
        "httpGet": get,
        "periodSeconds": period,
        "failureThreshold": failures,
        "initialDelaySeconds": delay,
        "timeoutSeconds": 3,
    }


def volume_claim_spec(settings: Settings, size_gi: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{size_gi}Gi"}}}
    if kubernetes_settings(settings).storage_class:
        spec["storageClassName"] = kubernetes_settings(settings).storage_class
    return spec


def service_spec(pod_selector: Mapping[str, str], port: int, node_port: int = 0) -> dict[str, Any]:
    """A ClusterIP Service on `port`, or a NodePort one when `node_port` is set: the address the
    operator's machine reaches (the local cluster: 127.0.0.1:<nodePort>)."""
    entry: dict[str, Any] = {"name": "http", "port": port, "targetPort": "http"}
    if node_port:
        entry["nodePort"] = node_port
    return {"type": "NodePort" if node_port else "ClusterIP", "selector": dict(pod_selector), "ports": [entry]}


def service_url(name: str, namespace: str, port: int) -> str:
    return f"http://{name}.{namespace}.svc.cluster.local:{port}"


def foundation(parent: pulumi.Resource, settings: Settings) -> Foundation:
    """The platform and training namespaces, and the provider every component uses.

    The components' provider depends on both namespaces, so nothing namespaced is applied before they
    exist; the namespaces themselves go through a provider of the same cluster without that dependency.
    """
    ks = kubernetes_settings(settings)
    name = parent.pulumi_resource_name
    if ks.cluster == "local":
        # Said, not skipped silently: what the local cluster lacks that the stack declares anyway.
        pulumi.log.warn(
            "cluster: local - NetworkPolicies are applied but not enforced (the bridge CNI ignores them)"
            + (
                ", and the serving autoscaler has no metrics (no metrics-server): it keeps its minimum replicas"
                if ks.serving.autoscaling.enabled
                else ""
            )
        )
    kubeconfig = cluster_kubeconfig(ks)
    cluster = k8s.Provider(
        f"{name}-cluster", kubeconfig=kubeconfig, context=ks.context or None, opts=pulumi.ResourceOptions(parent=parent)
    )
    namespaces = [
        k8s.core.v1.Namespace(
            f"{name}-{role}",
            metadata={"name": ns_name, "labels": labels(settings, role)},
            # Deleting a namespace deletes everything in it, including the Jobs `mlops` launched there.
            opts=pulumi.ResourceOptions(parent=parent, provider=cluster, retain_on_delete=True),
        )
        for role, ns_name in (("namespace", ks.namespace), ("training-namespace", ks.training.namespace))
    ]
    provider = k8s.Provider(
        f"{name}-kubernetes",
        namespace=namespaces[0].metadata.name,
        kubeconfig=kubeconfig,
        context=ks.context or None,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=namespaces),
    )
    return Foundation(providers=(provider,))


def cluster_kubeconfig(ks: KubernetesSettings) -> str:
    """The kubeconfig the providers get: `mlops:kubernetes.kubeconfig`, else the stack's own
    `kubernetes:kubeconfig`, else "" - the operator's default loading rules, evaluated by the plugin. Never
    None: the SDK would then copy the caller's KUBECONFIG path into provider state, so two operators
    would see a provider diff."""
    return ks.kubeconfig or pulumi.Config("kubernetes").get("kubeconfig") or ""


def kubernetes_settings(settings: Settings) -> KubernetesSettings:
    """The parsed `mlops:kubernetes` section, which `infra.settings` fills in for this target."""
    if not isinstance(settings.kubernetes, KubernetesSettings):
        raise TypeError(f"stack '{settings.stack}': target kubernetes without parsed mlops:kubernetes settings")
    return settings.kubernetes


def artifact_secret_name(settings: Settings) -> str:
    """The Secret holding the S3 credentials, in the platform namespace (tracking and serving read it)."""
    return f"{settings.prefix}-artifacts-s3"


def s3_env(settings: Settings) -> list[dict[str, Any]]:
    """Environment of a container that talks to the artifact bucket: endpoint, region, credentials by reference."""
    ks = kubernetes_settings(settings)
    secret = artifact_secret_name(settings)
    return [
        {"name": "MLFLOW_S3_ENDPOINT_URL", "value": ks.artifacts.endpoint},
        {"name": "AWS_ENDPOINT_URL_S3", "value": ks.artifacts.endpoint},
        {"name": "AWS_DEFAULT_REGION", "value": ks.artifacts.region},
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": secret, "key": "AWS_ACCESS_KEY_ID"}}},
        {
            "name": "AWS_SECRET_ACCESS_KEY",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": "AWS_SECRET_ACCESS_KEY"}},
        },
    ]
