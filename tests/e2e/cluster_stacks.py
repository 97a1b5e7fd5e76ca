"""The cluster stacks (`dev`, `staging`, `prod`) on a local cluster of the test's own: their copies, their
secrets, and what the cluster shows of them.

`copy_stack` copies `stacks/Pulumi.<base>.yaml` the way `own_stack` copies `local`: a stack name of its own
(`e2e-<base>-<hex>`), namespaces, node ports and a bucket of its own, in the project dir `e2e_env` points
`MLOPS_PROJECT_DIR` at. It stays `cluster: local` (the defaults under test) with the kubeconfig and the
containerd socket of the test's cluster instead of `mlops cluster up`'s. Its secrets are set with the
Pulumi CLI under the test's own passphrase and backend, as a team sets them.

`PodWatch` records the training namespace's pods while a Job runs: `mlops train` deletes the Job with its
pods when it ends, so their image, ServiceAccount and resources are read while they exist.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from contract import CONFIG_NAMESPACE
from tests.support.local_cluster import free_node_ports
from tests.support.mlops_cli import E2E_PREFIX
from tests.support.paths import BIN, STACKS
from tests.support.pulumi_stacks import project_dir


@dataclass(frozen=True)
class StackCopy:
    name: str
    namespace: str
    training_namespace: str
    registry_port: int
    tracking_port: int
    serving_port: int

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.tracking_port}"

    @property
    def serving_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.serving_port}"

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.registry_port}"


def _pulumi(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN / "pulumi"), *args],
        env={**env, "PULUMI_SKIP_UPDATE_CHECK": "1", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "1"},
        cwd=env["MLOPS_PROJECT_DIR"],
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"pulumi {' '.join(args[:3])} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def copy_stack(
    base: str,
    root: Path,
    env: dict[str, str],
    kubeconfig: Path,
    containerd_socket: Path,
    model: str,
    node_ports: list[int] | None = None,
) -> StackCopy:
    """`base` as a stack of the test's own on the test's cluster, serving `models:/<model>@champion`.
    `node_ports` (registry, tracking, serving): free ones when not given; copies that are up together need
    ports set apart by the caller, since nothing listens on a copy's ports before its `up`."""
    name = f"{E2E_PREFIX}{base}-{uuid.uuid4().hex[:6]}"
    document = yaml.safe_load((STACKS / f"Pulumi.{base}.yaml").read_text())
    prefix = f"{CONFIG_NAMESPACE}:"
    config = {key.removeprefix(prefix): value for key, value in document["config"].items() if key.startswith(prefix)}
    registry, tracking, serving = node_ports or free_node_ports(3)
    copy = StackCopy(name, name, f"{name}-training", registry, tracking, serving)
    k8s = config["kubernetes"]
    assert k8s["cluster"] == "local", f"the test copies {base} as the local cluster's stack"
    k8s["namespace"] = copy.namespace
    k8s["training"]["namespace"] = copy.training_namespace
    k8s["registry"]["nodePort"] = registry
    k8s["tracking"]["nodePort"] = tracking
    k8s["serving"]["nodePort"] = serving
    k8s["artifacts"]["bucket"] = f"{name}-artifacts"
    k8s["kubeconfig"] = str(kubeconfig)
    k8s.setdefault("images", {})["nodeImport"] = str(containerd_socket)
    config["tracking"]["publicUrl"] = copy.tracking_uri
    config["serving"]["modelUri"] = f"models:/{model}@champion"
    project_dir(root, name, config)
    _pulumi(["stack", "init", name], env)
    keys = ["registryPassword", "artifactsAccessKeyId", "artifactsSecretAccessKey"]
    if config["tracking"].get("backend") == "postgres":
        keys.append("postgresPassword")
    for key in keys:
        _pulumi(["config", "set", "--secret", f"{prefix}{key}", secrets.token_hex(18), "--stack", name], env)
    return copy


def set_config(stack: str, path: str, value: str, env: dict[str, str]) -> None:
    """`pulumi config set --path mlops:<path> VALUE` on the copy, as a team changes a stack's setting."""
    _pulumi(["config", "set", "--path", f"{CONFIG_NAMESPACE}:{path}", value, "--stack", stack], env)


def tracking_login(stack: str, env: dict[str, str]) -> tuple[str, str]:
    """The tracking server's login, from the stack's secret output, as `mlops` reads it."""
    shown = json.loads(
        _pulumi(["stack", "output", "tracking_credentials", "--show-secrets", "--json", "--stack", stack], env)
    )
    return str(shown["username"]), str(shown["password"])


def http_status(url: str, data: bytes | None = None, login: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if login:
        import base64

        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def events(kubectl: Any, namespace: str, reason: str) -> list[str]:
    """Messages of the namespace's events with this reason (they outlive the pods they are about)."""
    found = kubectl.get(["-n", namespace, "events"]) or {}
    return [e.get("message", "") for e in found.get("items", []) if e.get("reason") == reason]


def wait_answering(url: str, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    status = 0
    while time.monotonic() < deadline:
        status = http_status(url)
        if status == 200:
            return status
        time.sleep(1)
    return status
