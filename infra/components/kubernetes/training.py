"""TrainingCluster on kubernetes: a namespace of its own, bounded by a quota, where `mlops train` runs Jobs.

The namespace is created with the platform's (`foundation`), before any component, because the registry
puts the image pull secret in it; this component fills it.

Two ServiceAccounts: the launcher (what `mlops train --env X` or CI authenticates as) may create and
watch Jobs and read their pods' logs in this namespace and nothing else; the trainer, which the Jobs'
pods run as, gets no API token at all. The LimitRange gives a container that states no resources the
stack's training limits, so the quota always has something to count. A copy of the artifact store's S3
credentials lives here too (a pod reads Secrets of its own namespace only), for jobs that read `s3://`
data, and the tracking server's login when it runs basic auth; the Jobs reference both by name, so no
credential is ever written into a Job.

The `training` output is what `mlops.jobs.kubernetes` needs to run a Job: the cluster (kubeconfig,
context), namespace, ServiceAccount, image, resources, security contexts, the Job's retry, deadline and
TTL, the S3 endpoint with the Secret's name, and the tracking login's user and Secret (`{}`: no login).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.kubernetes import (
    APP_UID,
    cluster_kubeconfig,
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

S3_SECRET = "training-s3"
TRACKING_LOGIN_SECRET = "training-tracking-login"


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
    access_key_id, secret_access_key = s.secrets.artifacts_access_key_id, s.secrets.artifacts_secret_access_key
    if access_key_id is None or secret_access_key is None:
        raise ValueError(f"stack '{s.stack}': the kubernetes target without the artifact store's S3 credentials")
    s3_secret = k8s.core.v1.Secret(
        f"{name}-s3",
        metadata=meta(S3_SECRET),
        type="Opaque",
        string_data={"AWS_ACCESS_KEY_ID": access_key_id, "AWS_SECRET_ACCESS_KEY": secret_access_key},
        opts=pulumi.ResourceOptions(parent=component, additional_secret_outputs=["stringData", "data"]),
    )
    tracking_login: pulumi.Input[dict[str, str]] = {}
    if args.tracking_credentials is not None:
        # The tracking server's login for the Jobs, mounted as a file (`contract.TRACKING_PASSWORD_FILE`).
        login_secret = k8s.core.v1.Secret(
            f"{name}-tracking-login",
            metadata=meta(TRACKING_LOGIN_SECRET),
            type="Opaque",
            string_data={"password": args.tracking_credentials.password},
            opts=pulumi.ResourceOptions(parent=component, additional_secret_outputs=["stringData", "data"]),
        )
        username = args.tracking_credentials.username
        tracking_login = login_secret.metadata.apply(lambda m: {"username": username, "secret": m["name"]})
    launcher = k8s.core.v1.ServiceAccount(f"{name}-launcher", metadata=meta("launcher"), opts=opts)
    role = k8s.rbac.v1.Role(
        f"{name}-launcher-role",
        metadata=meta("job-launcher"),
        rules=[
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            # A Job's files (training config, dataset spec, job context: nothing secret) are a ConfigMap.
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "delete"]},
            # A quota or LimitRange refusing a Job's pods is only told in the Job's events.
            {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["get", "list"]},
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

    # Only a path goes into the output: a `kubernetes:kubeconfig` given inline may hold credentials.
    kubeconfig = cluster_kubeconfig(ks)
    kubeconfig_path = "" if any(c.isspace() for c in kubeconfig) else kubeconfig
    job_spec = pulumi.Output.all(
        image=args.image,
        tracking_uri=args.tracking_uri,
        namespace=ns_name,
        service_account=trainer.metadata.name,
        launcher_service_account=launcher.metadata.name,
        role_binding=binding.metadata.name,
        s3_secret=s3_secret.metadata.name,
        tracking_login=tracking_login,
    ).apply(
        lambda values: {
            "target": "kubernetes",
            "kubeconfig": kubeconfig_path,
            "context": ks.context,
            "image": values["image"],
            "tracking_uri": values["tracking_uri"],
            "namespace": values["namespace"],
            "service_account": values["service_account"],
            "launcher_service_account": values["launcher_service_account"],
            "limits": {"cpus": s.training.limits.cpus, "memory_mb": s.training.limits.memory_mb},
            "resources": resources(s.training.limits, ks.request_fraction),
            "image_pull_policy": ks.image_pull_policy,
            "pod_security_context": pod_security(APP_UID),
            # Read-only root: the launcher mounts scratch space for HOME and TMPDIR.
            "security_context": container_security(APP_UID, read_only_root=True),
            "labels": role_labels,
            "backoff_limit": ks.training.backoff_limit,
            "active_deadline_seconds": ks.training.active_deadline_seconds,
            "ttl_seconds_after_finished": ks.training.ttl_seconds_after_finished,
            "quota": "training",
            "s3": {"endpoint": ks.artifacts.endpoint, "region": ks.artifacts.region, "secret": values["s3_secret"]},
            "tracking_login": values["tracking_login"],
        }
    )
    return TrainingClusterOutputs(job_spec=job_spec)
