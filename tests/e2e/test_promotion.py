"""Promotion on one machine: two docker-target environments made from the `local` and `local-prod` stack
files under names of their own, each with its own registry, tracking server and serving endpoint, brought
up by `pulumi up`.

Trains in `local`, promotes into `local-prod`, and checks that the promoted version serves there, that a
worse model is refused with the reason, and that a rollout that fails (a model the serving image cannot
load) leaves the previous version serving. `local-prod`'s tracking server requires its login (MLflow's basic
auth): a request without it gets 401, `mlops` finds it in the stack's outputs, and this test reads it there too.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.unportable import register_unportable
from tests.support.mlops_cli import mlops, tear_down
from tests.support.paths import BIN, REPO

# Two stacks brought up and four promotions: 14 minutes in a fresh-clone CI run here, near the default 15.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

HERE = Path(__file__).resolve().parent
MODEL = "breast-cancer"


def _ok(result, what: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, (
        f"{what} failed ({result.returncode}):\n{result.stdout[-5000:]}\n{result.stderr[-3000:]}"
    )


def _outputs(stack: str, env: dict[str, str]) -> dict[str, str]:
    result = mlops(["env", "outputs", stack, "--json"], env)
    _ok(result, f"outputs of {stack}")
    return json.loads(result.stdout)


def _use_tracking_login(stack: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's MLflow calls carry the stack's login (the source server, without basic auth, ignores it)."""
    shown = subprocess.run(
        [str(BIN / "pulumi"), "stack", "output", "tracking_credentials", "--show-secrets", "--json", "--stack", stack],
        env=env,
        cwd=env["MLOPS_PROJECT_DIR"],
        text=True,
        capture_output=True,
        check=True,
    )
    login = json.loads(shown.stdout)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", login["username"])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", login["password"])


def _status_without_login(tracking_uri: str) -> int:
    request = urllib.request.Request(
        f"{tracking_uri}/api/2.0/mlflow/experiments/search",
        data=b'{"max_results": 1}',
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def _metadata(endpoint: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"{endpoint}/metadata", timeout=10) as response:
        return json.loads(response.read())


def test_promote_refuse_and_roll_back_across_two_environments(e2e_env, new_stack, monkeypatch):
    from ml.promote.versions import get_version

    source, target = new_stack("local", "src"), new_stack("local-prod", "prod")
    try:
        for stack in (source, target):
            _ok(mlops(["env", "up", stack, "--yes"], e2e_env), f"env up {stack}")
        _ok(mlops(["train", "--env", source, "--config", "examples/breast_cancer/train.yaml"], e2e_env), "train")

        promoted = mlops(["promote", MODEL, "--from", source, "--to", target, "--approve"], e2e_env)
        _ok(promoted, "first promotion")
        prod = _outputs(target, e2e_env)
        assert _status_without_login(prod["tracking_uri"]) == 401
        _use_tracking_login(target, e2e_env, monkeypatch)
        champion = get_version(prod["tracking_uri"], MODEL, alias="champion")
        assert _metadata(prod["serving_endpoint"])["version"] == champion.version
        assert champion.tags["lineage.source_env"] == source
        assert champion.tags["lineage.source_tracking_uri"] == _outputs(source, e2e_env)["tracking_uri"]

        # A clearly worse model is refused by the champion comparison, with the reason.
        weak = mlops(["train", "--env", source, "--config", str(HERE / "weak_train.yaml")], e2e_env)
        _ok(weak, "training the weak model")
        refused = mlops(["promote", MODEL, "--from", source, "--to", target, "--approve"], e2e_env)
        assert refused.returncode == 2, refused.stdout[-4000:]
        assert "champion:roc_auc" in refused.stdout
        assert get_version(prod["tracking_uri"], MODEL, alias="champion").version == champion.version

        register_unportable(_outputs(source, e2e_env)["tracking_uri"], MODEL, champion.tags["lineage.source_version"])
        # The promoting process can load it (the `tests` package is on its path); the serving image cannot.
        env = {**e2e_env, "PYTHONPATH": os.pathsep.join([str(REPO), e2e_env.get("PYTHONPATH", "")])}
        failed = mlops(["promote", MODEL, "--from", source, "--to", target, "--approve"], env)
        assert failed.returncode == 4, f"{failed.stdout[-5000:]}\n{failed.stderr[-3000:]}"
        assert "restoring the previous state" in failed.stdout
        assert get_version(prod["tracking_uri"], MODEL, alias="champion").version == champion.version
        assert _metadata(_outputs(target, e2e_env)["serving_endpoint"])["version"] == champion.version

        log = mlops(["promotions", target, "--json"], e2e_env)
        _ok(log, "promotions")
        assert [entry["outcome"] for entry in json.loads(log.stdout)] == ["rolled_back", "refused", "promoted"]
    finally:
        downs = [tear_down(stack, e2e_env) for stack in (target, source)]
    assert all(d.returncode == 0 for d in downs), "\n".join(d.stdout[-2000:] for d in downs)
