"""TrainingCluster on kubernetes: a namespace of its own, bounded by a quota, where `mlops train` runs Jobs.

The namespace is created with the platform's (`foundation`), before any component, because the registry
puts the image pull secret in it; this component fills it.

Two ServiceAccounts: the launcher (what `mlops train --env X` or CI authenticates as) may create and
watch Jobs and read their pods' logs in this namespace and nothing else; the trainer, which the Jobs'
pods run as, gets no API token at all. The LimitRange gives a container that states no resources the
stack's training limits, so the quota always has something to count.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.kubernetes import (
    APP_UID,
    container_security,
    cpu,
    kubernetes_settings,
    labels,
    memory,
    pod_security,
    resources,
)
from infra.components.kubernetes.registry import pull_secret_name
from infra.components.types import TrainingClusterArgs, TrainingClusterOutputs


def create(component: pulumi.ComponentResource, args: TrainingClusterArgs) -> TrainingClusterOutputs:
    s = args.settings
    ks = kubernetes_settings(s)
    name = component.pulumi_resource_name
    role_labels = labels(s, "training")
    # The namespace itself comes from the target's foundation, so the registry can put its pull secret there.
    ns_name = ks.training.namespace

    def meta(object_name: str) -> dict[str, Any]:
        return {"name": object_name, "namespace": ns_name, "labels": role_labels}

    opts = pulumi.ResourceOptions(parent=component)
    quota = ks.training.quota
    k8s.core.v1.ResourceQuota(
        f"{name}-quota",
        metadata=meta("training"),
        spec={
            "hard": {
                "requests.cpu": cpu(quota.cpu),
                "limits.cpu": cpu(quota.cpu),
                "requests.memory": f"{quota.memory_gi}Gi",
                "limits.memory": f"{quota.memory_gi}Gi",
                "pods": str(quota.pods),
                "count/jobs.batch": str(quota.jobs),
            }
        },
        opts=opts,
    )
    job_limits = {"cpu": cpu(s.training.limits.cpus), "memory": memory(s.training.limits.memory_mb)}
    k8s.core.v1.LimitRange(
        f"{name}-limits",
        metadata=meta("training"),
        spec={
            "limits": [
                {
                    "type": "Container",
                    "default": job_limits,
                    "defaultRequest": resources(s.training.limits, ks.request_fraction)["requests"],
                    "max": {"cpu": cpu(quota.cpu), "memory": f"{quota.memory_gi}Gi"},
                }
            ]
        },
        opts=opts,
    )
    trainer = k8s.core.v1.ServiceAccount(
        f"{name}-trainer",
        metadata=meta("trainer"),
        automount_service_account_token=False,
        image_pull_secrets=[{"name": pull_secret_name(s.prefix)}],
        opts=opts,
    )
    launcher = k8s.core.v1.ServiceAccount(f"{name}-launcher", metadata=meta("launcher"), opts=opts)
    role = k8s.rbac.v1.Role(
        f"{name}-launcher-role",
        metadata=meta("job-launcher"),
        rules=[
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        ],
        opts=opts,
    )
    binding = k8s.rbac.v1.RoleBinding(
        f"{name}-launcher-binding",
        metadata=meta("job-launcher"),
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
        subjects=[{"kind": "ServiceAccount", "name": launcher.metadata.name, "namespace": ns_name}],
        opts=opts,
    )

    job_spec = pulumi.Output.all(
        image=args.image,
        tracking_uri=args.tracking_uri,
        namespace=ns_name,
        service_account=trainer.metadata.name,
        launcher_service_account=launcher.metadata.name,
        role_binding=binding.metadata.name,
    ).apply(
        lambda values: {
            "image": values["image"],
            "tracking_uri": values["tracking_uri"],
            "namespace": values["namespace"],
            "service_account": values["service_account"],
            "launcher_service_account": values["launcher_service_account"],
            "limits": {"cpus": s.training.limits.cpus, "memory_mb": s.training.limits.memory_mb},
            "resources": resources(s.training.limits, ks.request_fraction),
            "image_pull_policy": ks.image_pull_policy,
            "pod_security_context": pod_security(APP_UID),
            "security_context": container_security(APP_UID, read_only_root=False),
        }
    )
    return TrainingClusterOutputs(job_spec=job_spec)
