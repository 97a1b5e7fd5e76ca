"""ContainerRegistry on docker: Debian's distribution registry in a container, and the platform images."""

from __future__ import annotations

import pulumi

from infra import images
from infra.components.docker import LOOPBACK, build_image, health
from infra.components.types import ContainerRegistryArgs, ContainerRegistryOutputs
from infra.providers.docker import Container, Image, RegistryLogin, Volume

REGISTRY_PORT = 5000


def create(component: pulumi.ComponentResource, args: ContainerRegistryArgs) -> ContainerRegistryOutputs:
    s = args.settings
    name = component.pulumi_resource_name
    local = f"{s.prefix}/"
    address = f"{LOOPBACK}:{s.registry.port}"
    specs = images.stack_specs(s.prefix, s.images.base, postgres=s.tracking.backend == "postgres")

    registry_image = build_image(component, specs["registry"], f"{local}registry", s.labels, None, [])
    volume = Volume(
        f"{name}-volume", name=f"{s.prefix}-registry", labels=s.labels, opts=pulumi.ResourceOptions(parent=component)
    )
    container = Container(
        f"{name}-container",
        name=f"{s.prefix}-registry",
        image=registry_image.ref,
        network=args.network or s.prefix,
        labels=s.labels,
        env={"MLOPS_REGISTRY_USERNAME": s.registry.username},
        # A file, not an environment variable: `docker inspect` shows the environment to anyone with the socket.
        secret_files={"registry-password": args.password},
        # Loopback only: the engine pushes and pulls from this host, nothing else needs the registry.
        ports=[{"internal": REGISTRY_PORT, "external": s.registry.port, "host_ip": LOOPBACK}],
        mounts=[
            {"type": "volume", "source": volume.volume_name, "target": "/var/lib/docker-registry"},
            {"type": "tmpfs", "source": "", "target": "/run/registry"},
        ],
        limits={"cpus": 0.5, "memory_mb": 256},
        user="docker-registry",
        healthcheck=health(f"http://127.0.0.1:{REGISTRY_PORT}/v2/", 200, 401),
        ready_timeout_s=60,
        # Fixed name and host port: the provider sets the old container aside (stopped, so the port is free)
        # and removes it only once the new one is ready, or restores it if the new one never is.
        opts=pulumi.ResourceOptions(parent=component),
    )

    credentials: RegistryLogin = {"address": address, "username": s.registry.username, "password": args.password}
    deps_image = build_image(component, specs["deps"], f"{local}deps", s.labels, None, [])
    built: dict[str, Image] = {"deps": deps_image, "registry": registry_image}
    for role, spec in specs.items():
        if role in built:
            continue
        after: list[pulumi.Resource] = [container, deps_image] if "DEPS_IMAGE" in spec.build_args else [container]
        built[role] = build_image(component, spec, f"{address}/mlops/{role}", s.labels, credentials, after)
    pushed = {role: image.ref for role, image in built.items() if specs[role].pushed}

    return ContainerRegistryOutputs(
        address=pulumi.Output.from_input(address),
        username=pulumi.Output.from_input(s.registry.username),
        password=pulumi.Output.secret(args.password),
        images=pulumi.Output.all(**pushed).apply(dict),
    )
