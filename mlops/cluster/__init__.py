"""The local single-node Kubernetes cluster: the embedded default of the cluster stacks (dev, staging, prod).

`mlops cluster up` starts it as host processes (its own containerd, etcd, the control plane, kubelet,
kube-proxy, CoreDNS) from the binaries the bootstrap's `cluster` step builds; `down` stops it and
undoes every host change it recorded. The admin kubeconfig is at /var/lib/mlops-cluster/admin.kubeconfig.
A user with a cluster of their own skips all of this and points the stacks at their kubeconfig.
"""

from __future__ import annotations

from mlops.cluster.layout import DEFAULT_RUN_DIR, DEFAULT_STATE_DIR, ClusterError, Layout

__all__ = ["DEFAULT_RUN_DIR", "DEFAULT_STATE_DIR", "ClusterError", "Layout"]
