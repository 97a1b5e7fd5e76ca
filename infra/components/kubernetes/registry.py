"""ContainerRegistry on kubernetes: an in-cluster registry or an external one, and the platform images.

In-cluster: the CNCF distribution registry (our image, or `images.registry`) on a PVC with htpasswd auth, exposed
as a NodePort so that every node's container runtime pulls from `127.0.0.1:<nodePort>` - the cluster DNS
is not visible to kubelets, and runtimes allow plain HTTP to loopback registries. External: images go to
the configured registry. Either way the images are built on this machine (content-tagged) and pushed
to `pushAddress`, and a dockerconfigjson Secret lets the platform and training namespaces pull them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import images
from infra.components.docker import build_image
from infra.components.kubernetes import (
    APP_UID,
    container_security,
    kubernetes_settings,
    labels,
    metadata,
    pod_security,
    selector,
    volume_claim_spec,
    volume_owner,
)
from infra.components.kubernetes.node_image import NodeImage
from infra.components.types import ContainerRegistryArgs, ContainerRegistryOutputs
from infra.providers.docker import Image, RegistryLogin

REGISTRY_PORT = 5000
DATA_DIR = "/var/lib/docker-registry"  # registry-config.yml's rootdirectory
SECRETS_DIR = "/run/mlops-secrets"
# Images the cluster runs from the registry (plus postgres, from its own Dockerfile); the registry's own is
# imported into the node or named by `images.registry`; a Service replaces the balancer.
CLUSTER_ROLES = ("tracking", "server", "trainer")


def pull_secret_name(prefix: str) -> str:
    return f"{prefix}-registry-pull"


def repository(address: str, role: str) -> str:
    """`<address>/<role>` when the address names a path (`ghcr.io/acme/mlops`), else `<address>/mlops/<role>`."""
    return f"{address}/{role}" if "/" in address else f"{address}/mlops/{role}"


def _docker_config(host: str, username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"username": username, "password": password, "auth": token}}})


def registry_image(component: pulumi.ComponentResource, args: ContainerRegistryArgs) -> pulumi.Output[str]:
    """The registry's own image: `images.registry` if the stack names one, else ours (registry.Dockerfile),
    built here from the stack's base and imported into the node's containerd (`images.nodeImport`)."""
    s = args.settings
    ks = kubernetes_settings(s)
    if ks.images.registry:
        return pulumi.Output.from_input(ks.images.registry)
    if not ks.images.node_import:
        raise ValueError(
            f"stack '{s.stack}': the in-cluster registry needs an image its nodes can run: set "
            "mlops:kubernetes.images.registry (a mirror of ours), or images.nodeImport (a containerd socket "
            "on this machine, as `cluster: local` does)"
        )
    name = component.pulumi_resource_name
    spec = images.specs(s.images.base)["registry"]
    built = build_image(component, spec, f"{s.prefix}/registry", s.labels, None, [])
    ref = f"{s.prefix}/registry:{spec.tag}"
    imported = NodeImage(
        f"{name}-node-image-registry",
        ref=built.urn.apply(lambda _: ref),
        socket=ks.images.node_import,
        opts=pulumi.ResourceOptions(parent=component),
    )
    return imported.urn.apply(lambda _: ref)


def _in_cluster(component: pulumi.ComponentResource, args: ContainerRegistryArgs) -> list[pulumi.Resource]:
    """Our registry image (Debian's distribution): its entrypoint writes the htpasswd file from the
    username and a password FILE (a Secret volume, never an environment variable) onto a memory emptyDir."""
    s = args.settings
    ks = kubernetes_settings(s)
    name = component.pulumi_resource_name
    reg_labels = labels(s, "registry")
    reg_selector = selector(s, "registry")
    opts = pulumi.ResourceOptions(parent=component)
    image = registry_image(component, args)
    credentials = k8s.core.v1.Secret(
        f"{name}-credentials",
        metadata=metadata(f"{s.prefix}-registry-credentials", ks.namespace, reg_labels),
        string_data={"username": s.registry.username, "password": args.password},
        opts=pulumi.ResourceOptions(parent=component, additional_secret_outputs=["stringData", "data"]),
    )
    claim = k8s.core.v1.PersistentVolumeClaim(
        f"{name}-data",
        metadata=metadata(f"{s.prefix}-registry-data", ks.namespace, reg_labels),
        spec=volume_claim_spec(s, ks.registry.storage_gi),
        # Pushed images outlive the stack: a `destroy` and a new `up` find them again.
        opts=pulumi.ResourceOptions(parent=component, retain_on_delete=True),
    )
    pod_spec: dict[str, Any] = {
        "securityContext": pod_security(APP_UID),
        "containers": [
            {
                "name": "registry",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "registry", "containerPort": REGISTRY_PORT}],
                "env": [
                    {"name": "MLOPS_REGISTRY_USERNAME", "value": s.registry.username},
                    {"name": "MLOPS_REGISTRY_PASSWORD_FILE", "value": f"{SECRETS_DIR}/registry-password"},
                ],
                "resources": {
                    "requests": {"cpu": "50m" if ks.request_fraction < 1 else "250m", "memory": "128Mi"},
                    "limits": {"cpu": "1000m", "memory": "512Mi"},
                },
                "securityContext": container_security(APP_UID),
                # /v2/ answers 401 without credentials, so probe the port instead.
                "readinessProbe": {"tcpSocket": {"port": "registry"}, "periodSeconds": 5},
                "livenessProbe": {"tcpSocket": {"port": "registry"}, "periodSeconds": 20, "failureThreshold": 3},
                "volumeMounts": [
                    {"name": "data", "mountPath": DATA_DIR},
                    {"name": "htpasswd", "mountPath": "/run/registry"},
                    {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": claim.metadata.name}},
            {"name": "htpasswd", "emptyDir": {"medium": "Memory"}},
            {"name": "tmp", "emptyDir": {}},
            {
                "name": "secrets",
                "secret": {
                    "secretName": credentials.metadata.name,
                    "items": [{"key": "password", "path": "registry-password"}],
                    # Readable by the pod's fsGroup (the registry's user), nobody else.
                    "defaultMode": 0o440,
                },
            },
        ],
    }
    if ks.volume_permissions:
        pod_spec["initContainers"] = [volume_owner(image, DATA_DIR)]
    if ks.images.pull_secret:
        pod_spec["imagePullSecrets"] = [{"name": ks.images.pull_secret}]
    deployment = k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata=metadata(f"{s.prefix}-registry", ks.namespace, reg_labels),
        spec={
            "replicas": 1,
            "selector": {"matchLabels": reg_selector},
            # One pod holds the ReadWriteOnce volume at a time.
            "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": reg_labels}, "spec": pod_spec},
        },
        opts=opts,
    )
    service = k8s.core.v1.Service(
        f"{name}-service",
        metadata=metadata(f"{s.prefix}-registry", ks.namespace, reg_labels),
        spec={
            "type": "NodePort",
            "selector": reg_selector,
            "ports": [
                {"name": "registry", "port": REGISTRY_PORT, "targetPort": "registry", "nodePort": ks.registry.node_port}
            ],
        },
        opts=opts,
    )
    return [deployment, service]


def create(component: pulumi.ComponentResource, args: ContainerRegistryArgs) -> ContainerRegistryOutputs:
    s = args.settings
    ks = kubernetes_settings(s)
    name = component.pulumi_resource_name
    running = _in_cluster(component, args) if ks.registry.mode == "in-cluster" else []

    pull_host = ks.registry.address.split("/", 1)[0]
    config = pulumi.Output.secret(args.password).apply(
        lambda password: _docker_config(pull_host, s.registry.username, password)
    )
    pull_secrets = [
        k8s.core.v1.Secret(
            f"{name}-{role}",
            metadata=metadata(pull_secret_name(s.prefix), target_namespace, labels(s, "registry")),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": config},
            opts=pulumi.ResourceOptions(parent=component, additional_secret_outputs=["stringData", "data"]),
        )
        for role, target_namespace in (("pull-secret", ks.namespace), ("training-pull-secret", ks.training.namespace))
    ]

    postgres = s.tracking.backend == "postgres"
    specs = images.stack_specs(s.prefix, s.images.base, postgres=postgres)
    push_login: RegistryLogin = {
        "address": ks.registry.push_address.split("/", 1)[0],
        "username": s.registry.username,
        "password": args.password,
    }

    def build(spec: images.ImageSpec, repo: str, registry: RegistryLogin | None, after: list[pulumi.Resource]) -> Image:
        return build_image(component, spec, repo, s.labels, registry, after)

    deps_image = build(specs["deps"], f"{s.prefix}/deps", None, [])
    refs: dict[str, pulumi.Output[str]] = {}
    previous: list[pulumi.Resource] = []
    for role in CLUSTER_ROLES:
        spec = specs[role]
        # One push at a time: the deps layers (about 1 GB) are compressed and uploaded once, and the
        # next push mounts them from the repository that has them instead of compressing them again.
        pushed = build(spec, repository(ks.registry.push_address, role), push_login, [*running, deps_image, *previous])
        previous = [pushed]
        pull_ref = f"{repository(ks.registry.address, role)}:{spec.tag}"
        # Pods name the pull address, not the push address. Deriving it from the URNs of the pushed image
        # and the pull secrets orders every workload after both, and keeps the reference known during a
        # preview, so the policy pack can check the tag before anything is built.
        refs[role] = pulumi.Output.all(pushed.urn, *(secret.urn for secret in pull_secrets)).apply(
            lambda _, ref=pull_ref: ref  # type: ignore[misc]
        )
    if postgres and ks.images.postgres:
        refs["postgres"] = pulumi.Output.from_input(ks.images.postgres)
    elif postgres:
        spec = images.cluster_postgres_spec(s.images.base, root=specs["deps"].root)
        pushed = build(spec, repository(ks.registry.push_address, "postgres"), push_login, list(running))
        pull_ref = f"{repository(ks.registry.address, 'postgres')}:{spec.tag}"
        refs["postgres"] = pulumi.Output.all(pushed.urn, *(secret.urn for secret in pull_secrets)).apply(
            lambda _, ref=pull_ref: ref  # type: ignore[misc]
        )

    return ContainerRegistryOutputs(
        address=pulumi.Output.from_input(ks.registry.push_address),
        username=pulumi.Output.from_input(s.registry.username),
        password=pulumi.Output.secret(args.password),
        images=pulumi.Output.all(**refs).apply(dict),
    )
