"""Fixtures every suite may use; helpers live in tests/support/ and are imported from there.

- `mlflow_server`: the session's real MLflow tracking server (SQLite backend, proxied local artifacts),
  shared by the suites. Yields its URI. Tests that register models on it take `model_name`.
- `model_name`: a registered-model name of this test's own, so tests sharing the server never see each
  other's versions and aliases.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator

import pytest

from tests.support.names import unique_model_name

# pulumi.dynamic's serialize_provider wraps the pure-Python pickler's `_batch_setitems` again on every call and
# never puts it back; after some thousand dynamic resources in one process (the mock suites), anything pickled
# through `pickle._Pickler` (joblib does) recurses past the limit. Each test gets the pickler as Python has it.
_PICKLER_METHODS = {name: getattr(pickle._Pickler, name) for name in ("_batch_setitems", "save_dict")}  # type: ignore[attr-defined]
# What the session started with, not what the previous test left: a module- or session-scoped fixture that
# sets a URI runs before any test saves anything, and its value would otherwise be restored forever after.
_MLFLOW_URI_AT_START = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}


RUN_ALONE = ("tests/e2e/", "tests/faults/", "tests/toolchain/test_docker_and_base_image.py")
"""The tests that stand up whole docker environments, inject faults into them or restart the engine: beside the
cluster tests' image imports and rollouts on a 2-core machine they ran two to three times slower, so `make test`
(scripts/test_lanes.py) runs them after those, alone. Every other test runs beside the cluster tests."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `alone` every integration or e2e test under RUN_ALONE."""
    root = str(config.rootpath)
    for item in items:
        if not (item.get_closest_marker("integration") or item.get_closest_marker("e2e")):
            continue
        if str(item.path).removeprefix(root + "/").startswith(RUN_ALONE):
            item.add_marker(pytest.mark.alone)


@pytest.fixture(autouse=True)
def _process_globals_stay_with_their_test() -> Iterator[None]:
    """Undo what libraries leave in the process: the pickler patch above, and the tracking and registry
    URIs `mlflow.set_tracking_uri` sets process-wide and exports to the environment (a later test would
    otherwise talk to another test's server, and so would every subprocess it starts)."""
    yield
    for name, method in _PICKLER_METHODS.items():
        setattr(pickle._Pickler, name, method)  # type: ignore[attr-defined]
    if "mlflow" in sys.modules:
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        tracking_utils._tracking_uri = _MLFLOW_URI_AT_START["MLFLOW_TRACKING_URI"]
        registry_utils._registry_uri = _MLFLOW_URI_AT_START["MLFLOW_REGISTRY_URI"]
    for key, value in _MLFLOW_URI_AT_START.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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
