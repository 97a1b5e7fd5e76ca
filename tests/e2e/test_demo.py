"""The main job, as a newcomer runs it: `mlops demo` on a copy of the `local` stack (a name, ports and
volumes of its own, so a user's `local` from `make demo` keeps running), then our own check of the
endpoint against the registry, and a teardown that runs even when the test fails."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.support.mlops_cli import mlops, tear_down
from tests.support.paths import REPO

pytestmark = pytest.mark.e2e


def test_demo_serves_the_registered_model(e2e_env, new_stack):
    from ml.data import load_dataset
    from ml.promote.versions import get_version
    from ml.spec import load_dataset_spec

    stack = new_stack("local", "demo")
    try:
        demo = mlops(["demo", "--env", stack], e2e_env)
        assert demo.returncode == 0, f"demo failed:\n{demo.stdout[-6000:]}\n{demo.stderr[-4000:]}"
        outputs = mlops(["env", "outputs", stack, "--json"], e2e_env)
        assert outputs.returncode == 0, outputs.stderr
        values = json.loads(outputs.stdout)
        endpoint, tracking = values["serving_endpoint"], values["tracking_uri"]
        assert endpoint.startswith("http://127.0.0.1:") and tracking.startswith("http://127.0.0.1:")

        champion = get_version(tracking, "breast-cancer", alias="champion")
        spec = load_dataset_spec(REPO / "examples" / "breast_cancer" / "dataset.yaml")
        rows = load_dataset(spec).frame.drop(columns=[spec.target]).sample(n=25, random_state=3)
        request = urllib.request.Request(
            f"{endpoint}/predict",
            data=json.dumps({"records": json.loads(rows.to_json(orient="records"))}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            served = json.loads(response.read())
        assert served["model_version"] == champion.version
        assert served["predictions"] == champion.load().predict(rows).tolist()
        assert "stage timings:" in demo.stdout
    finally:
        down = tear_down(stack, e2e_env)
    assert down.returncode == 0, f"teardown left resources behind:\n{down.stdout[-3000:]}\n{down.stderr[-2000:]}"
