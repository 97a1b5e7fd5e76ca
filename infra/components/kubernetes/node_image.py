"""NodeImage: an image of this machine's Docker engine imported into a node's containerd (`k8s.io`).

The in-cluster registry cannot pull its own image from itself, and machines like ours pull from no public
registry, so on a cluster whose containerd socket is on this machine (`mlops cluster`'s,
`mlops:kubernetes.images.nodeImport`) the registry's image, built here from our base, is imported directly.
The reference is content-tagged and never `:latest`, so the kubelet (IfNotPresent) never pulls it.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

NAMESPACE = "k8s.io"


def _ctr() -> str:
    found = shutil.which("ctr") or "/usr/bin/ctr"
    return found


def normalized(ref: str) -> str:
    """The name containerd records for `ref` (Docker's defaults: docker.io, library/)."""
    first, _, rest = ref.partition("/")
    if not rest:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def _present(socket: str, ref: str) -> bool:
    listed = subprocess.run(
        [_ctr(), "-a", socket, "-n", NAMESPACE, "images", "ls", "-q", f"name=={normalized(ref)}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if listed.returncode != 0:
        # An unreachable containerd is not "absent": fail instead of planning a re-import.
        raise RuntimeError(f"ctr images ls on {socket} failed: {listed.stderr.strip()}")
    return normalized(ref) in listed.stdout.split()


def _import(socket: str, ref: str) -> None:
    docker = shutil.which("docker") or "/usr/bin/docker"
    with subprocess.Popen([docker, "save", ref], stdout=subprocess.PIPE) as save:
        loaded = subprocess.run(
            [_ctr(), "-a", socket, "-n", NAMESPACE, "images", "import", "--no-unpack", "-"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            timeout=600,
        )
        save.stdout.close()  # type: ignore[union-attr]
        saved = save.wait()
    if saved != 0 or loaded.returncode != 0:
        raise RuntimeError(f"importing {ref} into {socket} failed: {loaded.stderr.strip()}")


class NodeImageProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        if not _present(props["socket"], props["ref"]):
            _import(props["socket"], props["ref"])
        return CreateResult(id_=props["ref"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in ("ref", "socket") if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # Gone from the node (a `mlops cluster down --purge`): report it gone, so `up` imports it again.
        if not _present(props["socket"], props["ref"]):
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Another stack may run the same content-tagged image: leave it to containerd's image GC.
        return None


class NodeImage(Resource, module="kubernetes", name="NodeImage"):
    ref: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        ref: pulumi.Input[str],
        socket: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(NodeImageProvider(), name, {"ref": ref, "socket": socket}, opts)
