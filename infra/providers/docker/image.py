"""`docker:Image`: a platform image built from exactly its listed files, tagged by content, maybe pushed.

Inputs: repository, tag (a content hash, never `latest`), dockerfile, context, files[str] (paths under
context that make up the build context), build_args{str: str}, labels{str: str}, push, registry
(RegistryLogin, secret) | None, ca_bundle, base_image, base_id and base_identity (the base built FROM, the
image ID the bootstrap recorded for it and the identity its tag hashes; empty for an image built FROM another).
Outputs add: ref, repo_digest.
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
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from infra.providers.docker.engine import client, diff, not_found, plain

log = logging.getLogger(__name__)


class RegistryLogin(TypedDict):
    address: pulumi.Input[str]
    username: pulumi.Input[str]
    password: pulumi.Input[str]


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
        except not_found():
            _check_base(docker_client, props)
            _build(ref, props)
        digest = _push(docker_client, props) if props.get("push") else ""
        return CreateResult(ref, {**plain(props), "ref": ref, "repo_digest": digest})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only the content tag identifies an image: the Dockerfile path or a moved checkout does not.
        return diff(olds, news, ("kind", "repository", "tag", "labels", "push", "registry"))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({**plain(news), "ref": olds.get("ref", id_), "repo_digest": olds.get("repo_digest", "")})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The image, or gone when the engine no longer has it (the next `up` builds it from cache again)."""
        try:
            client().images.get(id_)
        except not_found():
            log.info("image %s is gone", id_)
            return ReadResult("", {})
        return ReadResult(id_, plain(props))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        import docker.errors

        try:
            client().images.remove(id_, noprune=False)
        except docker.errors.NotFound:
            log.info("image %s was already gone", id_)
        except docker.errors.APIError as err:
            # An image still used by a container that is being replaced is left to a later prune.
            log.warning("image %s not removed: %s", id_, err)


def _check_base(docker_client: Any, props: Mapping[str, Any]) -> None:
    """Build FROM the base's name only while it is the image the bootstrap recorded: the tag being built
    hashes that identity, so anything else under the name would be used silently."""
    name, expected = props.get("base_image") or "", props.get("base_id") or ""
    if not name or not expected:
        return
    fix = (
        f"remove that tag (`docker rmi {name}`) and run `python3 scripts/bootstrap.py --steps base-image`, which "
        "makes the base again and records it (the images built FROM it then get new tags)"
    )
    try:
        found = docker_client.images.get(name).id
    except not_found():
        raise RuntimeError(
            f"base image {name} ({expected}) is not in the engine: "
            "run `python3 scripts/bootstrap.py --steps base-image`"
        ) from None
    if found != expected:
        raise RuntimeError(f"base image {name} is {found}, not the {expected} the bootstrap recorded: {fix}")


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
        registry: RegistryLogin | None = None,
        ca_bundle: str = "",
        base_image: str = "",
        base_id: str = "",
        base_identity: str = "",
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
            "base_image": base_image,
            "base_id": base_id,
            "base_identity": base_identity,
            "ref": None,
            "repo_digest": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["registry"]))
        super().__init__(ImageProvider(), resource_name, props, opts)
