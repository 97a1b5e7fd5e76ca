"""A real local cluster of the tests' own, with the training namespace of a kubernetes stack created directly.

`kube_job_stack` starts a cluster under state and run directories of its own (like
tests/mlops/cluster/test_integration.py), imports the test trainer and deps images into its containerd,
and creates what `mlops env up` would for training: a tracking server (MLflow from the deps image, a
Service, a NodePort for this machine) and the training namespace with its ResourceQuota `training`, its
LimitRange, the token-less `trainer` ServiceAccount and the S3 Secret. `description()` is the `training`
output a kubernetes stack exports for it. The cluster goes down (purged) however the tests end.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract import Outputs

NAMESPACE = "jobs-it"
TRAINING_NAMESPACE = "jobs-it-training"
TRACKING = "tracking"
QUOTA = {"limits.cpu": "2", "requests.cpu": "2", "limits.memory": "6Gi", "requests.memory": "6Gi", "pods": "4"}
POD_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1536Mi"}}
SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}
STARTUP_TIMEOUT_S = 300.0


@dataclass
class KubeJobStack:
    kubeconfig: Path
    tracking_uri: str
    """As this machine reaches it: the NodePort on 127.0.0.1."""
    trainer_image: str
    kubectl: Any
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def internal_tracking_uri(self) -> str:
        return f"http://{TRACKING}.{NAMESPACE}.svc.cluster.local:5000"

    def training_output(self, **changes: Any) -> dict[str, Any]:
        return {
            "target": "kubernetes",
            "kubeconfig": str(self.kubeconfig),
            "context": "",
            "image": self.trainer_image,
            "tracking_uri": self.internal_tracking_uri,
            "namespace": TRAINING_NAMESPACE,
            "service_account": "trainer",
            "launcher_service_account": "launcher",
            "limits": {"cpus": 1.0, "memory_mb": 1536},
            "resources": POD_RESOURCES,
            "image_pull_policy": "IfNotPresent",
            "pod_security_context": POD_SECURITY,
            "security_context": SECURITY,
            "labels": {"app.kubernetes.io/part-of": "mlops-jobs-it"},
            "backoff_limit": 0,
            "active_deadline_seconds": 900,
            "ttl_seconds_after_finished": 600,
            "quota": "training",
            "s3": {"endpoint": "http://10.244.0.1:9000", "region": "us-east-1", "secret": "training-s3"},
            **changes,
        }

    def description(self, **changes: Any) -> dict[str, Any]:
        outputs = {
            Outputs.TARGET: "kubernetes",
            Outputs.TRACKING_URI: self.tracking_uri,
            Outputs.TRAINING: self.training_output(**changes),
        }
        return {"outputs": outputs, "config": {"training": {"where": "cluster"}}}

    def training_objects(self, kind: str) -> list[str]:
        found = self.kubectl.get(["-n", TRAINING_NAMESPACE, kind]) or {}
        return [item["metadata"]["name"] for item in found.get("items", [])]


def _objects(deps_image: str, node_port: int) -> list[dict[str, Any]]:
    labels = {"app": TRACKING}
    hosts = [TRACKING, f"{TRACKING}.{NAMESPACE}", f"{TRACKING}.{NAMESPACE}.svc.cluster.local"]
    allowed = ",".join([*hosts, *(f"{h}:5000" for h in hosts), f"127.0.0.1:{node_port}", "localhost"])
    command = ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--workers", "1"]
    command += ["--backend-store-uri", "sqlite:////data/mlflow.db", "--artifacts-destination", "/data/artifacts"]
    command += ["--serve-artifacts", "--allowed-hosts", allowed]
    tracking = {
        "name": TRACKING,
        "image": deps_image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": [{"name": "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "value": "false"}, {"name": "HOME", "value": "/data"}],
        "ports": [{"containerPort": 5000, "name": "http"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    meta = {"namespace": TRAINING_NAMESPACE}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TRAINING_NAMESPACE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": TRACKING, "namespace": NAMESPACE},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": POD_SECURITY,
                        "containers": [tracking],
                        "volumes": [{"name": "data", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": TRACKING, "namespace": NAMESPACE},
            "spec": {
                "type": "NodePort",
                "selector": labels,
                "ports": [{"name": "http", "port": 5000, "targetPort": "http", "nodePort": node_port}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "training", **meta},
            "spec": {"hard": QUOTA},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "training", **meta},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "1", "memory": "1536Mi"}}]},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "trainer", **meta},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "training-s3", **meta},
            "stringData": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        },
    ]


def _import_images(socket: Path, refs: list[str]) -> None:
    save = subprocess.Popen(["docker", "save", *refs], stdout=subprocess.PIPE)
    ctr = ["ctr", "-a", str(socket), "-n", "k8s.io", "images", "import", "-"]
    subprocess.run(ctr, stdin=save.stdout, check=True, capture_output=True, timeout=600)
    assert save.wait() == 0


def _wait_healthy(uri: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise RuntimeError(f"the tracking server at {uri} is not healthy after {STARTUP_TIMEOUT_S:.0f} s")


def _free_node_port() -> int:
    from mlops.cluster.preflight import listening

    taken = {port for _address, port in listening()}
    return next(p for p in range(31950, 32700) if p not in taken)


@contextmanager
def kube_job_stack(deps_image: str, trainer_image: str) -> Iterator[KubeJobStack]:
    from mlops.cluster.cluster import Cluster
    from mlops.cluster.layout import Layout
    from mlops.cluster.lifecycle import up
    from mlops.cluster.probe import wait_for
    from mlops.cluster.teardown import down

    name = f"mlops-jobs-it-{os.getpid()}"
    layout = Layout(state_dir=Path("/var/lib") / name, run_dir=Path("/run") / name)
    cluster = Cluster(layout=layout)
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        up(cluster)
        timings["cluster up"] = time.monotonic() - started
        started = time.monotonic()
        _import_images(layout.containerd_socket, [deps_image, trainer_image])
        timings["image import"] = time.monotonic() - started
        started = time.monotonic()
        node_port = _free_node_port()
        kubectl = cluster.kubectl()
        items = _objects(deps_image, node_port)
        kubectl.checked(["apply", "-f", "-"], stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        wait_for(lambda: kubectl.deployment_available(NAMESPACE, TRACKING), "the tracking server", STARTUP_TIMEOUT_S)
        uri = f"http://127.0.0.1:{node_port}"
        _wait_healthy(uri)
        timings["tracking server"] = time.monotonic() - started
        yield KubeJobStack(layout.admin_kubeconfig, uri, trainer_image, kubectl, timings)
    finally:
        down(Cluster(layout=layout), purge=True)
