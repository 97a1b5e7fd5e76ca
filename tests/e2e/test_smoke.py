"""Smoke test of an environment that is already up (the deploy workflow runs it after `mlops env up dev`).

Set `MLOPS_E2E_ENV` to the environment; its stack outputs say where to look. The champion served must be
the registry's champion, with the registry model's own predictions.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def deployed_env() -> str:
    name = os.environ.get("MLOPS_E2E_ENV")
    if not name:
        pytest.skip(
            "MLOPS_E2E_ENV is not set: this smoke test checks an environment that is already up "
            "(deploy.yml sets it); the demo and promotion e2e tests bring their own up"
        )
    return name


def test_smoke_deployed_environment(deployed_env):
    from ml.data import load_dataset
    from ml.promote.versions import get_version
    from ml.smoke import smoke_test
    from ml.spec import load_dataset_spec
    from mlops.stacks import resolve

    env = resolve(deployed_env)
    with urllib.request.urlopen(f"{env.tracking_uri}/health", timeout=10) as response:
        assert response.status == 200
    model = os.environ.get("MLOPS_E2E_MODEL", "breast-cancer")
    champion = get_version(env.tracking_uri, model, alias="champion")
    spec = load_dataset_spec(REPO / "examples" / "breast_cancer" / "dataset.yaml")
    rows = load_dataset(spec).frame.drop(columns=[spec.target]).head(20)
    result = smoke_test(env.serving_endpoint, champion.version, champion.load(), rows)
    assert result.rows == 20
    assert result.version == champion.version
