"""What do the cluster stacks cost on the local cluster, step by step, against the issue's targets?

On a local cluster of its own (`tests.support.local_cluster.own_cluster`: its own state and run
directories, purged at the end), with copies of `stacks/Pulumi.dev.yaml` and `stacks/Pulumi.prod.yaml`
under names, namespaces and node ports of their own (`tests.e2e.cluster_stacks.copy_stack`), it measures:

- `mlops cluster up`, warm (the binaries built, the cluster's data new): target under 30 s;
- `mlops env up` of dev on a new namespace, then a no-change `up` (target under 15 s);
- `mlops env up` of prod on a new namespace (Postgres StatefulSet, two tracking replicas);
- `mlops train --env dev` as a Job;
- `mlops promote` dev -> prod with approval: transfer, gates, and the rollout of three serving replicas
  (target under 3 minutes);
- the cluster's memory when idle (daemons, and pods with their shims) with both environments up.

The cold build of the binaries is the bootstrap's `cluster` step; its time is in the README.

Needs root, the cluster toolchain (`make setup`) and no cluster of the user's running. Run from the
repository root on a quiet machine:

    .venv/bin/python -m benchmarks.cluster_bench
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.cluster_stacks import copy_stack, tracking_login
from tests.e2e.cluster_steps import train_config
from tests.support.local_cluster import free_node_ports, own_cluster, skip_reason
from tests.support.mlops_cli import mlops, own_cli_env, tear_down

TARGETS = {"cluster up (warm)": 30.0, "env up dev (no change)": 15.0, "promote dev -> prod (rollout)": 180.0}


def _timed(figures: dict[str, float], name: str, args: list[str], env: dict[str, str]) -> Any:
    started = time.monotonic()
    result = mlops(args, env, timeout=1800)
    figures[name] = time.monotonic() - started
    print(f"{name}: {figures[name]:.1f} s", flush=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    return result


def main() -> None:
    reason = skip_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    figures: dict[str, float] = {}
    memory: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        root = Path(tmp)
        env = own_cli_env(root, "cluster-bench")
        model = f"bench-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        with own_cluster(f"mlops-bench-{os.getpid()}") as cluster:
            figures["cluster up (warm)"] = time.monotonic() - started
            print(f"cluster up (warm): {figures['cluster up (warm)']:.1f} s", flush=True)
            layout = cluster.layout
            ports = free_node_ports(6)
            dev, prod = (
                copy_stack(base, root, env, layout.admin_kubeconfig, layout.containerd_socket, model, ports[i : i + 3])
                for base, i in (("dev", 0), ("prod", 3))
            )
            try:
                _timed(figures, "env up dev (new namespace)", ["env", "up", dev.name, "--yes"], env)
                _timed(figures, "env up dev (no change)", ["env", "up", dev.name, "--yes"], env)
                _timed(figures, "env up prod (new namespace)", ["env", "up", prod.name, "--yes"], env)
                username, password = tracking_login(dev.name, env)
                train_env = {**env, "MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password}
                config = train_config(root, model)
                _timed(
                    figures, "train as a Job in dev", ["train", "--env", dev.name, "--config", str(config)], train_env
                )
                promote = ["promote", model, "--from", dev.name, "--to", prod.name, "--approve"]
                _timed(figures, "promote dev -> prod (rollout)", promote, env)
                time.sleep(30)  # settled: the rollout's old pods gone, the kubelet's first housekeeping done
                from mlops.cluster.status import status

                memory = status(cluster)["memory_mib"]
            finally:
                for copy in (prod, dev):
                    tear_down(copy.name, env)
    print("\n| step | seconds | target |\n|---|---:|---:|")
    for name, seconds in figures.items():
        target = TARGETS.get(name)
        print(f"| {name} | {seconds:.1f} | {f'under {target:.0f} s' if target else ''} |")
    print(f"\nidle memory with dev and prod up (MiB): {json.dumps(memory)}")


if __name__ == "__main__":
    main()
