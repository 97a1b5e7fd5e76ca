"""Helpers shared by the test suites, one module per concern; fixtures stay in the conftests.

- `paths`: the repository's directories.
- `ports`: free loopback ports.
- `names`: registered-model names no other test uses.
- `mlflow_server`: a real `mlflow server` process (the one launcher of every suite).
- `s3`: moto's fake credentials and a boto3 client for a moto endpoint.
- `pulumi_mocks`: the infrastructure program under Pulumi mocks, with a stack's config.
- `kubernetes_schema`: strict validation of a manifest against the Kubernetes schema.
- `pulumi_stacks`: real Pulumi runs (CLI, file backend, a throwaway project dir) for integration tests.
- `docker_objects`: what the Docker engine holds for one stack, and its purge.
- `drift_data`: seeded tabular frames with controllable drift, and prediction-log files.
- `mlops_cli`: the real `mlops` command for end-to-end tests.

Infra tests import only `paths`, `ports`, `pulumi_mocks`, `kubernetes_schema`, `pulumi_stacks` and
`docker_objects`, none of which imports `ml` (tests/test_boundaries.py checks it).
"""
