"""Fixtures of the ml tests: real services started and stopped by the tests themselves.

- `mlflow_server` (tests/conftest.py): the session's real tracking server.
- `other_mlflow_server`: a second, independent tracking server (another environment's registry).
- `s3_server`: moto's S3 server in a thread on 127.0.0.1. Yields its endpoint URL; fake credentials
  are put in the environment for the session so boto3 (ours and MLflow's) can sign requests.
- `s3`: a boto3 S3 client for that server (`tests.support.s3.s3_client(endpoint)` makes one for any).
- `s3_bucket`: a fresh, empty bucket on that server. Yields its name.
- `mlflow_s3_server`: an MLflow server whose artifacts destination is a moto bucket.
  Yields `(uri, bucket, prefix)`.

All servers are session-scoped: MLflow takes 20-40 s to answer its first `/health` on these machines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.mlflow_server import running_mlflow_server
from tests.support.s3 import FAKE_AWS_ENV, s3_client


@pytest.fixture(scope="session")
def other_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second, independent tracking server: another environment's registry (promotion tests)."""
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-other-server")) as uri:
        yield uri


@pytest.fixture(scope="session")
def aws_test_env() -> Iterator[dict[str, str]]:
    """Fake AWS credentials for the session; moto accepts any, boto3 refuses to sign without some."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in FAKE_AWS_ENV.items():
            patch.setenv(key, value)
        yield dict(FAKE_AWS_ENV)


@pytest.fixture(scope="session")
def s3_server(aws_test_env: dict[str, str]) -> Iterator[str]:
    """Endpoint URL of moto's S3 server on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3(s3_server: str) -> Any:
    """A boto3 S3 client for the moto server."""
    return s3_client(s3_server)


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A new empty bucket on the moto server (function scope: tests do not see each other's objects)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def mlflow_s3_server(
    tmp_path_factory: pytest.TempPathFactory, s3_server: str, aws_test_env: dict[str, str]
) -> Iterator[tuple[str, str, str]]:
    """An MLflow server whose proxied artifacts land in a moto bucket: `(uri, bucket, prefix)`."""
    bucket, prefix = f"mlflow-{uuid.uuid4().hex[:8]}", "artifacts"
    s3_client(s3_server).create_bucket(Bucket=bucket)
    workdir = tmp_path_factory.mktemp("mlflow-s3-server")
    env = {**aws_test_env, "MLFLOW_S3_ENDPOINT_URL": s3_server}
    with running_mlflow_server(workdir, f"s3://{bucket}/{prefix}", env) as uri:
        yield uri, bucket, prefix
