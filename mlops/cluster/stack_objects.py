"""What a kubernetes-target stack leaves on its cluster after `pulumi destroy`, and `--purge` of it.

`destroy` keeps, on purpose, the stack's namespaces (deleting one deletes the Jobs `mlops train` launched
there) and its retained PVCs (registry images, the SQLite experiment history). `env down --purge` deletes
the namespaces, which takes their PVCs and every object in them; the leftover check then looks for
workload objects in them, not at Docker images, which a cluster stack need not have.
The stack's kubeconfig is the one its config names (`mlops:kubernetes.kubeconfig`, `cluster: local`'s, or
`kubernetes:kubeconfig`), else the operator's default.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops.cluster.layout import DEFAULT_STATE_DIR, Toolchain

WORKLOADS = "deployments,statefulsets,jobs,pods,services"
LOCAL_KUBECONFIG = str(DEFAULT_STATE_DIR / "admin.kubeconfig")


def _value(config: Mapping[str, Any], key: str) -> Any:
    raw = config.get(key)
    raw = getattr(raw, "value", raw)
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


@dataclass(frozen=True)
class StackCluster:
    namespaces: tuple[str, ...]
    kubeconfig: str

    @classmethod
    def of(cls, stack: str, config: Mapping[str, Any]) -> StackCluster | None:
        """From a stack's config (`Stack.get_all_config()` or plain values); None unless target kubernetes."""
        if _value(config, "mlops:target") != "kubernetes":
            return None
        k8s = _value(config, "mlops:kubernetes") or {}
        namespace = k8s.get("namespace") or f"mlops-{stack}"
        training = (k8s.get("training") or {}).get("namespace") or f"{namespace}-training"
        kubeconfig = k8s.get("kubeconfig") or (LOCAL_KUBECONFIG if k8s.get("cluster") == "local" else "")
        kubeconfig = kubeconfig or str(_value(config, "kubernetes:kubeconfig") or "")
        return cls((namespace, training), kubeconfig)

    def _kubectl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        exe = shutil.which("kubectl")
        if exe is None:
            try:
                exe = str(Toolchain.load()["kubectl"])
            except Exception as exc:
                raise RuntimeError("no kubectl on PATH or in the cluster toolchain") from exc
        argv = [exe, *(["--kubeconfig", self.kubeconfig] if self.kubeconfig else []), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def leftovers(self) -> dict[str, list[str]]:
        """Workload objects and PVCs still in the stack's namespaces (an unreachable cluster raises)."""
        found: dict[str, list[str]] = {"workloads": [], "volumes": []}
        for namespace in self.namespaces:
            for kind, what in (("workloads", WORKLOADS), ("volumes", "persistentvolumeclaims")):
                got = self._kubectl("-n", namespace, "get", what, "-o", "name", "--ignore-not-found")
                if got.returncode != 0:
                    raise RuntimeError(f"kubectl get {what} -n {namespace}: {got.stderr.strip()}")
                # The API server's own `kubernetes` Service lives in `default`, never in ours.
                found[kind] += [f"{namespace}/{line}" for line in got.stdout.split()]
        return {kind: names for kind, names in found.items() if names}

    def purge(self, timeout_s: float = 300) -> list[str]:
        """Delete the stack's namespaces (and so their PVCs, whose volumes the provisioner deletes)."""
        removed = []
        for namespace in self.namespaces:
            got = self._kubectl(
                "delete",
                "namespace",
                namespace,
                "--ignore-not-found",
                "--wait=true",
                f"--timeout={int(timeout_s)}s",
                timeout=timeout_s + 30,
            )
            if got.returncode != 0:
                raise RuntimeError(f"kubectl delete namespace {namespace}: {got.stderr.strip()}")
            if got.stdout.strip():
                removed.append(f"namespace/{namespace}")
        return removed
