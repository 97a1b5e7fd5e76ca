"""`docker:Container`: one container, started and waited for until it is ready.

Inputs: name, image, entrypoint[str] (absent: the image's), command[str] | None, env{str: str},
secret_env{str: str} (secret), secret_files{file name: content} (secret; each one a file of mode 0400 owned
by the container's user in `SECRETS_MOUNT`, never an environment variable or an argument), labels{str: str},
network, aliases[str], ports[Port], mounts[Mount], limits (Limits), restart, user, read_only,
healthcheck (Healthcheck) | None, ready_timeout_s. Outputs add: container_id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from infra.providers.docker.engine import NS, client, diff, not_found, plain
from infra.providers.docker.readiness import restore, set_aside, wait_ready
from infra.providers.docker.secret_files import SECRETS_MOUNT, put_secrets, secrets_dir

log = logging.getLogger(__name__)


class Port(TypedDict):
    internal: int
    external: int
    host_ip: str
    protocol: NotRequired[Literal["tcp", "udp"]]


class Mount(TypedDict):
    type: Literal["volume", "bind", "tmpfs"]
    source: pulumi.Input[str]
    target: str
    read_only: NotRequired[bool]


class Limits(TypedDict):
    cpus: float
    memory_mb: int


class Healthcheck(TypedDict):
    test: list[str]
    interval_s: float
    timeout_s: float
    retries: int
    start_period_s: float


Restart = Literal["no", "on-failure", "unless-stopped", "always"]


class ContainerProvider(ResourceProvider):
    KEYS = (
        "kind",
        "name",
        "image",
        "entrypoint",
        "command",
        "env",
        "secret_env",
        "secret_files",
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
        """Create, start and wait for the container; a same-named container of this stack is set aside.

        A same-named container is either the one this create replaces (create-before-delete of a fixed
        name) or a leftover of an `up` that was killed: it is renamed and stopped (which frees its host
        port), the new one is started, and only once the new one is ready is the old one removed. If the
        new one never gets ready, it is removed and the old one renamed back and restarted, so a failed
        replacement leaves the component as it was. A same-named container that is not this stack's is
        never touched: the create fails and says so.
        """
        docker_client = client()
        aside = set_aside(docker_client, props["name"], props.get("labels") or {})
        try:
            container = _create(docker_client, props)
        except Exception:
            restore(aside, props["name"], bool(props.get("healthcheck")), int(props.get("ready_timeout_s") or 120))
            raise
        if aside is not None:
            aside.remove(force=True, v=False)
        return CreateResult(container.id, {**plain(props), "container_id": container.id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Absent and empty secrets are the same (state written before a key existed has no such key).
        empty: dict[str, dict[str, str]] = {"secret_env": {}, "secret_files": {}}
        olds = {**olds, **{k: olds.get(k) or v for k, v in empty.items()}}
        news = {**news, **{k: news.get(k) or v for k, v in empty.items()}}
        return diff(olds, news, self.KEYS, self.IN_PLACE)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Limits and restart policy in place. The engine refuses `CpuQuota` on a container created with
        `NanoCpus` (they are exclusive), so CPUs are updated as `NanoCpus` too; docker-py's
        `update_container` has no such argument, hence the raw API call."""
        api = client().api
        body: dict[str, Any] = {"RestartPolicy": {"Name": news.get("restart") or "no"}}
        body.update(_resources(news.get("limits") or {}))
        response = api._post_json(api._url("/containers/{0}/update", id_), data=body)
        api._raise_for_status(response)
        return UpdateResult({**plain(news), "container_id": id_})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The container as it is, or gone (no id): the engine then drops it and the next `up` recreates it.

        A container that stopped and is not being restarted by its policy counts as gone too: everything
        this provider runs is meant to run, and `create` sets the stopped one aside and replaces it.
        """
        try:
            container = client().containers.get(id_)
        except not_found():
            log.info("container %s is gone", props.get("name") or id_)
            return ReadResult("", {})
        state = container.attrs.get("State") or {}
        if not state.get("Running") and not state.get("Restarting"):
            log.info("container %s is stopped (%s): it will be replaced", props.get("name") or id_, state.get("Status"))
            return ReadResult("", {})
        return ReadResult(id_, {**plain(props), "image": container.attrs["Config"]["Image"]})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            container = client().containers.get(id_)
        except not_found():
            log.info("container %s was already gone", props.get("name"))
            return
        container.stop(timeout=10)
        container.remove(v=False)
        if props.get("secret_files"):
            import shutil

            from contract import data_dir

            shutil.rmtree(data_dir() / "secrets" / str(props.get("name")), ignore_errors=True)


def _resources(limits: Mapping[str, Any]) -> dict[str, int]:
    """The engine's resource fields for `limits`; memory without swap, so the limit is the limit."""
    body: dict[str, int] = {}
    if limits.get("cpus"):
        body["NanoCpus"] = int(float(limits["cpus"]) * 1e9)
    if limits.get("memory_mb"):
        body["Memory"] = body["MemorySwap"] = int(limits["memory_mb"]) * 1024 * 1024
    return body


def _create(docker_client: Any, props: Mapping[str, Any]) -> Any:
    """Create and start the container and wait until it is ready; on failure, remove it and raise."""
    from docker.types import Mount

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
    secret_files: Mapping[str, str] = props.get("secret_files") or {}
    if secret_files:
        mounts.append(Mount(target=SECRETS_MOUNT, source=str(secrets_dir(props["name"])), type="bind"))
    container = docker_client.containers.create(
        props["image"],
        props.get("command") or None,
        entrypoint=props.get("entrypoint") or None,
        name=props["name"],
        environment={**(props.get("env") or {}), **(props.get("secret_env") or {})},
        labels=props.get("labels") or {},
        ports=ports,
        mounts=mounts,
        network=network,
        networking_config={network: docker_client.api.create_endpoint_config(aliases=list(props.get("aliases") or []))},
        nano_cpus=int(float(limits["cpus"]) * 1e9) if limits.get("cpus") else None,
        mem_limit=f"{int(limits['memory_mb'])}m" if limits.get("memory_mb") else None,
        memswap_limit=f"{int(limits['memory_mb'])}m" if limits.get("memory_mb") else None,
        restart_policy={"Name": props.get("restart") or "no"},
        user=props.get("user") or None,
        read_only=bool(props.get("read_only")),
        healthcheck=None
        if not health
        else {
            "test": list(health["test"]),
            "interval": int(health.get("interval_s", 5) * NS),
            "timeout": int(health.get("timeout_s", 5) * NS),
            "retries": int(health.get("retries", 3)),
            "start_period": int(health.get("start_period_s", 0) * NS),
        },
        detach=True,
    )
    try:
        if secret_files:
            put_secrets(container, props.get("user") or "", secret_files)
        container.start()
        wait_ready(container, bool(health), int(props.get("ready_timeout_s") or 120))
    except Exception:
        container.remove(force=True, v=False)
        raise
    return container


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
        limits: Limits,
        command: Sequence[pulumi.Input[str]] | None = None,
        entrypoint: Sequence[str] | None = None,
        env: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        secret_env: Mapping[str, pulumi.Input[str]] | None = None,
        secret_files: Mapping[str, pulumi.Input[str]] | None = None,
        aliases: Sequence[str] = (),
        ports: Sequence[Port] = (),
        mounts: Sequence[Mount] = (),
        restart: Restart = "unless-stopped",
        user: str = "",
        read_only: bool = True,
        healthcheck: Healthcheck | None = None,
        ready_timeout_s: int = 120,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["secret_env", "secret_files"])
        )
        props = {
            "kind": "docker:Container",
            "name": name,
            "image": image,
            "command": list(command or []) or None,
            "env": env if isinstance(env, pulumi.Output) else dict(env or {}),  # type: ignore[arg-type]
            "secret_env": pulumi.Output.secret(dict(secret_env or {})),
            "secret_files": pulumi.Output.secret(dict(secret_files or {})),
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
        if entrypoint:
            # Only when given, so the state of every container created before this input existed is unchanged.
            props["entrypoint"] = list(entrypoint)
        super().__init__(ContainerProvider(), resource_name, props, opts)
