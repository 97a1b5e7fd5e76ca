"""Fixtures every suite may use; helpers live in tests/support/ and are imported from there.

- `mlflow_server`: the session's real MLflow tracking server (SQLite backend, proxied local artifacts),
  shared by the suites. Yields its URI. Tests that register models on it take `model_name`.
- `model_name`: a registered-model name of this test's own, so tests sharing the server never see each
  other's versions and aliases.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.names import unique_model_name


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a real MLflow tracking server (SQLite backend, proxied local artifacts), one per session."""
    # Imported here: the launcher reads ml's server settings, and the infra suites never import ml.
    from tests.support.mlflow_server import running_mlflow_server

    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as uri:
        yield uri


@pytest.fixture
def model_name(request: pytest.FixtureRequest) -> str:
    """`<test name>-<8 hex>`: a registered-model name no other test uses."""
    return unique_model_name(request.node.name)
