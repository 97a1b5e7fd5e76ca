"""Docker resources as Pulumi dynamic resources, over the Docker Engine API.

The pulumi-docker plugin cannot be installed everywhere this platform must come up, so the docker
target manages its network, volumes, containers and images itself. Every resource's inputs carry
`kind` so that policies, which only see the generic dynamic type token, can tell them apart.

Input schemas (as stored in state; outputs repeat the inputs and add the fields listed):

`docker:Network`   name, labels{str: str}.                               out: network_id
`docker:Volume`    name, labels{str: str}.                               out: volume_name
`docker:Container` name, image, command[str] | None, env{str: str}, secret_env{str: str} (secret),
                   labels{str: str}, network, aliases[str],
                   ports[{internal: int, external: int, host_ip: str, protocol: "tcp"|"udp"}],
                   mounts[{type: "volume"|"bind"|"tmpfs", source: str, target: str, read_only: bool}],
                   limits{cpus: float, memory_mb: int}, restart: "no"|"on-failure"|"unless-stopped"|"always",
                   user: str, read_only: bool,
                   healthcheck{test[str], interval_s, timeout_s, retries, start_period_s} | None,
                   ready_timeout_s: int.                                 out: container_id
`docker:Image`     repository, tag (a content hash, never `latest`), dockerfile, context, files[str] (paths
                   under context that make up the build context), build_args{str: str}, labels{str: str}, push: bool,
                   registry{address, username, password (secret)} | None, ca_bundle.
                                                                         out: ref, repo_digest
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

log = logging.getLogger(__name__)

PROVIDER_KEY = "__provider"
_NS = 1_000_000_000


def client() -> Any:
    import docker

    # Pushing a gigabyte of layers to a registry on a busy 2-core host can stall one read for minutes.
    return docker.from_env(timeout=900)


def _not_found() -> type[Exception]:
    import docker.errors

    return docker.errors.NotFound


def _plain(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != PROVIDER_KEY}


def _diff(
    olds: Mapping[str, Any], news: Mapping[str, Any], keys: Sequence[str], in_place: Sequence[str] = ()
) -> DiffResult:
    changed = [k for k in keys if olds.get(k) != news.get(k)]
    replaces = [k for k in changed if k not in in_place]
    return DiffResult(
        changes=bool(changed),
        replaces=replaces,
        stables=[k for k in keys if k not in changed],
        delete_before_replace=False,
    )


class NetworkProvider(ResourceProvider):
    KEYS = ("kind", "name", "labels")

    def create(self, props: dict[str, Any]) -> CreateResult:
        docker_client = client()
        name = props["name"]
        existing = [n for n in docker_client.networks.list(names=[name]) if n.name == name]
        if existing and existing[0].attrs.get("Labels", {}) == props["labels"]:
            network = existing[0]
        else:
            network = docker_client.networks.create(name, driver="bridge", labels=props["labels"], check_duplicate=True)
        return CreateResult(network.id, {**_plain(props), "network_id": network.id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, self.KEYS)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        network = client().networks.get(id_)
        return ReadResult(id_, {**_plain(props), "name": network.name, "labels": network.attrs.get("Labels") or {}})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            client().networks.get(id_).remove()
        except _not_found():
            log.info("network %s was already gone", props.get("name"))


class VolumeProvider(ResourceProvider):
    KEYS = ("kind", "name", "labels")

    def create(self, props: dict[str, Any]) -> CreateResult:
        docker_client = client()
        try:
            # A volume kept by an earlier `destroy` is adopted: that is how its data outlives the stack.
            volume = docker_client.volumes.get(props["name"])
        except _not_found():
            volume = docker_client.volumes.create(props["name"], labels=props["labels"])
        return CreateResult(volume.name, {**_plain(props), "volume_name": volume.name})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, self.KEYS)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        volume = client().volumes.get(id_)
        return ReadResult(id_, {**_plain(props), "name": volume.name, "labels": volume.attrs.get("Labels") or {}})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            client().volumes.get(id_).remove()
        except _not_found():
            log.info("volume %s was already gone", id_)


class ContainerProvider(ResourceProvider):
    KEYS = (
        "kind",
        "name",
        "image",
        "command",
        "env",
        "secret_env",
        "labels",
        "network",
        "aliases",
        "ports",
        "mounts",
        "limits",
        "restart",
        "user",
        "read_only",
        "healthcheck",
    )
    IN_PLACE = ("limits", "restart")

    def create(self, props: dict[str, Any]) -> CreateResult:
        from docker.types import Mount

        docker_client = client()
        for mount in props.get("mounts") or []:
            source = Path(mount.get("source") or "")
            if mount["type"] == "bind" and not source.exists():
                # Replicas are created in parallel and share this directory: another may have just made it.
                source.mkdir(parents=True, exist_ok=True)
                # The container's non-root user is not the host user, and writes here (prediction logs).
                source.chmod(0o1777)
        # Numbers arrive as floats from the engine's property bags.
        ports = {
            f"{int(p['internal'])}/{p.get('protocol', 'tcp')}": (p["host_ip"], int(p["external"]))
            for p in props.get("ports") or []
        }
        mounts = [
            Mount(
                target=m["target"],
                source=m.get("source") or None,
                type=m["type"],
                read_only=bool(m.get("read_only")),
                # Scratch space for the container's non-root user, whatever its uid.
                tmpfs_mode=0o1777 if m["type"] == "tmpfs" else None,
            )
            for m in props.get("mounts") or []
        ]
        limits = props.get("limits") or {}
        health = props.get("healthcheck")
        network = props["network"]
        container = docker_client.containers.create(
            props["image"],
            props.get("command") or None,
            name=props["name"],
            environment={**(props.get("env") or {}), **(props.get("secret_env") or {})},
            labels=props.get("labels") or {},
            ports=ports,
            mounts=mounts,
            network=network,
            networking_config={
                network: docker_client.api.create_endpoint_config(aliases=list(props.get("aliases") or []))
            },
            nano_cpus=int(float(limits["cpus"]) * 1e9) if limits.get("cpus") else None,
            mem_limit=f"{int(limits['memory_mb'])}m" if limits.get("memory_mb") else None,
            restart_policy={"Name": props.get("restart") or "no"},
            user=props.get("user") or None,
            read_only=bool(props.get("read_only")),
            healthcheck=None
            if not health
            else {
                "test": list(health["test"]),
                "interval": int(health.get("interval_s", 5) * _NS),
                "timeout": int(health.get("timeout_s", 5) * _NS),
                "retries": int(health.get("retries", 3)),
                "start_period": int(health.get("start_period_s", 0) * _NS),
            },
            detach=True,
        )
        try:
            container.start()
            _wait_ready(container, bool(health), int(props.get("ready_timeout_s") or 120))
        except Exception:
            container.remove(force=True, v=False)
            raise
        return CreateResult(container.id, {**_plain(props), "container_id": container.id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, self.KEYS, self.IN_PLACE)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        limits = news.get("limits") or {}
        client().api.update_container(
            id_,
            cpu_quota=int(float(limits["cpus"]) * 100_000) if limits.get("cpus") else None,
            cpu_period=100_000 if limits.get("cpus") else None,
            mem_limit=f"{int(limits['memory_mb'])}m" if limits.get("memory_mb") else None,
            memswap_limit=f"{int(limits['memory_mb'])}m" if limits.get("memory_mb") else None,
            restart_policy={"Name": news.get("restart") or "no"},
        )
        return UpdateResult({**_plain(news), "container_id": id_})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        container = client().containers.get(id_)
        return ReadResult(id_, {**_plain(props), "image": container.attrs["Config"]["Image"]})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            container = client().containers.get(id_)
        except _not_found():
            log.info("container %s was already gone", props.get("name"))
            return
        container.stop(timeout=10)
        container.remove(v=False)


SETTLE_S = 2.0


def _wait_ready(container: Any, has_health: bool, timeout_s: int) -> None:
    """Wait until the container is healthy (or running, without a healthcheck); fail with its last logs."""
    deadline = time.monotonic() + timeout_s
    running_since: float | None = None
    while True:
        container.reload()
        state = container.attrs["State"]
        status = (state.get("Health") or {}).get("Status") if has_health else None
        running_since = (running_since or time.monotonic()) if state.get("Running") else None
        if state.get("Status") in ("exited", "dead") and not state.get("Restarting"):
            problem = f"exited with code {state.get('ExitCode')}"
        elif container.attrs.get("RestartCount"):
            # A restart before the first ready state is a crash loop, not a slow start.
            problem = f"crashed and was restarted (exit code {state.get('ExitCode')})"
        elif status == "healthy":
            return
        elif not has_health and running_since is not None and time.monotonic() - running_since >= SETTLE_S:
            # Without a healthcheck, "running" is only believed once it lasts: a process that fails at
            # start-up is briefly running too.
            return
        elif time.monotonic() > deadline:
            problem = f"was not {'healthy' if has_health else 'running'} after {timeout_s} s"
        else:
            time.sleep(0.5)
            continue
        tail = container.logs(tail=30).decode("utf-8", "replace")
        raise RuntimeError(f"container {container.name} {problem}; last log lines:\n{tail}")


def _builder() -> tuple[list[str], dict[str, str]]:
    """A BuildKit-capable build command: `docker buildx build` if that plugin exists, else a
    pre-23 client (Debian's 20.10) with DOCKER_BUILDKIT=1, whose BuildKit is built in."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    docker_exe = shutil.which("docker")
    if docker_exe and subprocess.run([docker_exe, "buildx", "version"], capture_output=True).returncode == 0:
        return [docker_exe, "buildx", "build", "--load"], env
    for exe in ("/usr/bin/docker", docker_exe):
        if exe and Path(exe).exists():
            return [exe, "build"], env
    raise RuntimeError("no docker client found to build images (need `docker buildx` or /usr/bin/docker)")


class ImageProvider(ResourceProvider):
    KEYS = ("kind", "repository", "tag", "dockerfile", "context", "build_args", "labels", "push", "registry")

    def create(self, props: dict[str, Any]) -> CreateResult:
        ref = f"{props['repository']}:{props['tag']}"
        docker_client = client()
        try:
            docker_client.images.get(ref)
            log.info("image %s exists, not rebuilt", ref)
        except _not_found():
            _build(ref, props)
        digest = _push(docker_client, props) if props.get("push") else ""
        return CreateResult(ref, {**_plain(props), "ref": ref, "repo_digest": digest})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only the content tag identifies an image: the Dockerfile path or a moved checkout does not.
        return _diff(olds, news, ("kind", "repository", "tag", "labels", "push", "registry"))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({**_plain(news), "ref": olds.get("ref", id_), "repo_digest": olds.get("repo_digest", "")})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client().images.get(id_)
        return ReadResult(id_, _plain(props))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        import docker.errors

        try:
            client().images.remove(id_, noprune=False)
        except docker.errors.NotFound:
            log.info("image %s was already gone", id_)
        except docker.errors.APIError as err:
            # An image still used by a container that is being replaced is left to a later prune.
            log.warning("image %s not removed: %s", id_, err)


def _build(ref: str, props: Mapping[str, Any]) -> None:
    command, env = _builder()
    args = [*command, "--file", props["dockerfile"], "--tag", ref]
    for key, value in sorted((props.get("labels") or {}).items()):
        args += ["--label", f"{key}={value}"]
    for key, value in sorted((props.get("build_args") or {}).items()):
        args += ["--build-arg", f"{key}={value}"]
    ca_bundle = props.get("ca_bundle") or ""
    if ca_bundle and Path(ca_bundle).is_file():
        args += ["--secret", f"id=ca,src={ca_bundle}"]
    started = time.monotonic()
    # Only the listed files go into the build context: they are what the content tag hashes.
    with tempfile.TemporaryDirectory(prefix="mlops-build-") as staging:
        for rel in props.get("files") or []:
            target = Path(staging) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(props["context"]) / rel, target)
        result = subprocess.run([*args, staging], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise RuntimeError(f"building {ref} failed ({' '.join(args)}):\n{tail}")
    log.info("built %s in %.0f s", ref, time.monotonic() - started)


def _push(docker_client: Any, props: Mapping[str, Any]) -> str:
    registry = props.get("registry") or {}
    auth = {"username": registry.get("username"), "password": registry.get("password")}
    for attempt in range(10):
        errors = [
            line.get("error")
            for line in docker_client.images.push(
                props["repository"], props["tag"], auth_config=auth, stream=True, decode=True
            )
            if line.get("error")
        ]
        if not errors:
            break
        if attempt == 9:
            raise RuntimeError(f"pushing {props['repository']}:{props['tag']} failed: {errors[-1]}")
        time.sleep(1)
    image = docker_client.images.get(f"{props['repository']}:{props['tag']}")
    digests = [d for d in image.attrs.get("RepoDigests", []) if d.startswith(props["repository"] + "@")]
    return digests[0] if digests else ""


class Network(Resource, module="docker", name="Network"):
    network_id: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            NetworkProvider(),
            resource_name,
            {"kind": "docker:Network", "name": name, "labels": dict(labels), "network_id": None},
            opts,
        )


class Volume(Resource, module="docker", name="Volume"):
    volume_name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # Volumes hold the platform's data; `destroy` keeps them and a purge by label removes them.
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True))
        super().__init__(
            VolumeProvider(),
            resource_name,
            {"kind": "docker:Volume", "name": name, "labels": dict(labels), "volume_name": None},
            opts,
        )


class Container(Resource, module="docker", name="Container"):
    container_id: pulumi.Output[str]
    name: pulumi.Output[str]
    image: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        image: pulumi.Input[str],
        network: pulumi.Input[str],
        labels: Mapping[str, str],
        limits: Mapping[str, float | int],
        command: Sequence[pulumi.Input[str]] | None = None,
        env: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        secret_env: Mapping[str, pulumi.Input[str]] | None = None,
        aliases: Sequence[str] = (),
        ports: Sequence[Mapping[str, Any]] = (),
        mounts: Sequence[Mapping[str, pulumi.Input[Any]]] = (),
        restart: str = "unless-stopped",
        user: str = "",
        read_only: bool = True,
        healthcheck: Mapping[str, Any] | None = None,
        ready_timeout_s: int = 120,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["secret_env"]))
        props = {
            "kind": "docker:Container",
            "name": name,
            "image": image,
            "command": list(command or []) or None,
            "env": env if isinstance(env, pulumi.Output) else dict(env or {}),  # type: ignore[arg-type]
            "secret_env": pulumi.Output.secret(dict(secret_env or {})),
            "labels": dict(labels),
            "network": network,
            "aliases": list(aliases),
            "ports": [{"protocol": "tcp", **p} for p in ports],
            "mounts": [dict(m) for m in mounts],
            "limits": dict(limits),
            "restart": restart,
            "user": user,
            "read_only": read_only,
            "healthcheck": dict(healthcheck) if healthcheck else None,
            "ready_timeout_s": ready_timeout_s,
            "container_id": None,
        }
        super().__init__(ContainerProvider(), resource_name, props, opts)


class Image(Resource, module="docker", name="Image"):
    ref: pulumi.Output[str]
    repo_digest: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        repository: pulumi.Input[str],
        tag: str,
        dockerfile: str,
        context: str,
        files: Sequence[str],
        labels: Mapping[str, str],
        build_args: Mapping[str, pulumi.Input[str]] | None = None,
        registry: Mapping[str, pulumi.Input[str]] | None = None,
        ca_bundle: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not tag or tag == "latest":
            raise ValueError(f"image {resource_name}: a content tag is required, never 'latest'")
        props = {
            "kind": "docker:Image",
            "repository": repository,
            "tag": tag,
            "dockerfile": dockerfile,
            "context": context,
            "files": list(files),
            "build_args": dict(build_args or {}),
            "labels": dict(labels),
            "push": registry is not None,
            "registry": dict(registry) if registry is not None else None,
            "ca_bundle": ca_bundle,
            "ref": None,
            "repo_digest": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["registry"]))
        super().__init__(ImageProvider(), resource_name, props, opts)
