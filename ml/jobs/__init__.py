"""Training jobs as the cluster runs them: the stack's job spec, the request, the Kubernetes manifests, and the
launcher the scheduled monitor uses in its pod. `mlops.jobs` drives the same from the operator's machine."""
