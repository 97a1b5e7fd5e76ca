"""Promotion between two real MLflow servers (two environments' registries), served by real `mlops serve`
processes.

The stack-driven rollout (`pulumi up` of the target) is covered by the end-to-end test; here the target's
serving is a `mlops serve` process restarted create-before-delete, so the gates, the copy with lineage, the
alias, the smoke test, the rollback and the audit log run against real servers in seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from contract import CHAMPION
from ml.promote import audit
from ml.promote.flow import Outcome, Target, promote
from ml.promote.promotion_policy import parse_policy
from ml.promote.recovery import rollback
from ml.promote.versions import find_alias, get_version
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

# Generous: a cold `mlops serve` imports sklearn and downloads the model, slow on a loaded 2-core machine.
READY_TIMEOUT_S = 180
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

POLICY = {
    "mode": "enabled",
    "thresholds": [{"metric": "roc_auc", "threshold": 0.8, "higherIsBetter": True}],
    "championTolerance": {"roc_auc": 0.02},
    "probeRows": 10,
}


class ServeDeployer:
    """The target's serving: one `mlops serve` process, replaced only once its successor is ready."""

    def __init__(self, tracking_uri: str, workdir: Path, fail_versions: frozenset[str] = frozenset()) -> None:
        self.tracking_uri = tracking_uri
        self.workdir = workdir
        self.uri = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        # Versions whose rollout this deployer refuses, standing in for a replica that never becomes ready.
        self.fail_versions = fail_versions

    def model_uri(self) -> str:
        return self.uri

    def set_model_uri(self, uri: str) -> None:
        self.uri = uri

    def roll_out(self) -> str:
        version = _resolve(self.tracking_uri, self.uri)
        if version in self.fail_versions:
            raise RuntimeError(f"replica for v{version} never became ready (induced by the test)")
        port = free_port()
        log_path = self.workdir / f"serve-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "mlops"),
                "serve",
                "--model-uri",
                self.uri,
                "--tracking-uri",
                self.tracking_uri,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--model-cache",
                str(self.workdir / "cache"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{endpoint}/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        else:
            process.kill()
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"mlops serve for {self.uri} not ready in {READY_TIMEOUT_S} s:\n{tail}")
        self.stop()
        self.process, self.endpoint = process, endpoint
        return endpoint

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


def _resolve(tracking_uri: str, uri: str) -> str:
    from mlflow import MlflowClient

    name, _, rest = uri.removeprefix("models:/").partition("@")
    if rest:
        return str(
            MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            .get_model_version_by_alias(name, rest)
            .version
        )
    return uri.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def target_server(other_mlflow_server: str) -> str:
    return other_mlflow_server


def _train(tracking_uri: str, model_name: str, **changes):
    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(EXAMPLES / "breast_cancer" / "train.yaml")
    # A name of its own (the `model_name` fixture): the session's tracking server is shared with other tests.
    changes = {"model_name": model_name, **changes}
    return run_training(config.model_copy(update=changes), spec, tracking_uri)


def _weak_model_changes():
    from ml.gates import GatesConfig
    from ml.training_config import EstimatorConfig

    # One depth-1 tree: a real model that is clearly worse than the logistic regression.
    return {
        "estimator": EstimatorConfig(kind="random_forest", params={"n_estimators": 1, "max_depth": 1}),
        "gates": GatesConfig(min_metrics=[], slices=[], invariance=None),
    }


def test_promotion_gates_lineage_rollout_and_rollback(mlflow_server, target_server, tmp_path, model_name):
    deployer = ServeDeployer(target_server, tmp_path)
    target = Target("prod", target_server, parse_policy("prod", POLICY), deployer)
    said: list[str] = []
    try:
        first = _train(mlflow_server, model_name)
        report = promote(
            first.model_name,
            "dev",
            mlflow_server,
            target,
            version=first.version,
            alias=None,
            approved_by=None,
            say=said.append,
        )
        assert report.outcome == Outcome.PROMOTED, report.message
        promoted = get_version(target_server, first.model_name, alias=CHAMPION)
        assert promoted.version == report.version
        assert promoted.tags["lineage.source_env"] == "dev"
        assert promoted.tags["lineage.source_tracking_uri"] == mlflow_server
        assert promoted.tags["lineage.source_run_id"] == first.run_id
        assert promoted.tags["lineage.source_version"] == first.version
        assert promoted.tags["data.sha256"] == first.data_sha256
        assert {g["name"] for g in json.loads(promoted.tags["promotion.gates"])} >= {
            "training-checks",
            "threshold:roc_auc",
        }
        assert promoted.metric("roc_auc") == pytest.approx(first.metrics["roc_auc"])
        assert deployer.uri == f"models:/{first.model_name}@{CHAMPION}"
        meta = json.loads(urllib.request.urlopen(f"{deployer.endpoint}/metadata", timeout=5).read())
        assert meta["version"] == promoted.version

        # A clearly worse model is refused on the champion comparison, and nothing moves.
        weak = _train(mlflow_server, model_name, **_weak_model_changes())
        refused = promote(
            weak.model_name,
            "dev",
            mlflow_server,
            target,
            version=weak.version,
            alias=None,
            approved_by=None,
            say=said.append,
        )
        assert refused.outcome == Outcome.REFUSED, (weak.version, weak.metrics, refused.gates)
        assert "champion:roc_auc" in refused.message
        assert get_version(target_server, first.model_name, alias=CHAMPION).version == promoted.version

        # A good model whose rollout fails leaves the previous champion serving.
        second = _train(mlflow_server, model_name, seed=7)
        deployer.fail_versions = frozenset({str(int(promoted.version) + 1)})
        failed = promote(
            second.model_name,
            "dev",
            mlflow_server,
            target,
            version=second.version,
            alias=None,
            approved_by=None,
            say=said.append,
        )
        assert failed.outcome == Outcome.ROLLED_BACK, failed.message
        assert get_version(target_server, first.model_name, alias=CHAMPION).version == promoted.version
        meta = json.loads(urllib.request.urlopen(f"{deployer.endpoint}/metadata", timeout=5).read())
        assert meta["version"] == promoted.version

        # Without the induced failure it goes through; then a rollback returns to the first champion.
        deployer.fail_versions = frozenset()
        third = promote(
            second.model_name,
            "dev",
            mlflow_server,
            target,
            version=second.version,
            alias=None,
            approved_by=None,
            say=said.append,
        )
        assert third.outcome == Outcome.PROMOTED, third.message
        back = rollback(first.model_name, target, say=said.append)
        assert back.outcome == Outcome.PROMOTED, back.message
        assert get_version(target_server, first.model_name, alias=CHAMPION).version == promoted.version

        outcomes = [e.outcome for e in audit.history(target_server, first.model_name)]
        assert outcomes == ["rolled_back_to", "promoted", "rolled_back", "refused", "promoted"]
    finally:
        deployer.stop()


def test_approval_required_and_dry_run(mlflow_server, target_server, tmp_path, model_name):
    model = _train(mlflow_server, model_name)
    deployer = ServeDeployer(target_server, tmp_path)
    strict = Target("prod", target_server, parse_policy("prod", {**POLICY, "requireApproval": True}), deployer)
    try:
        waiting = promote(
            model.model_name,
            "dev",
            mlflow_server,
            strict,
            version=model.version,
            alias=None,
            approved_by=None,
            say=lambda _: None,
        )
        assert waiting.outcome == Outcome.NEEDS_APPROVAL
        assert find_alias(target_server, model.model_name, CHAMPION) is None
        approved = promote(
            model.model_name,
            "dev",
            mlflow_server,
            strict,
            version=model.version,
            alias=None,
            approved_by="reviewer",
            say=lambda _: None,
        )
        assert approved.outcome == Outcome.PROMOTED, approved.message
        assert get_version(target_server, model.model_name, alias=CHAMPION).tags["promotion.approved_by"] == "reviewer"

        # dry_run reports a failing gate but does not block.
        weak = _train(mlflow_server, model_name, **_weak_model_changes())
        lenient = Target("prod", target_server, parse_policy("prod", {**POLICY, "mode": "dry_run"}), deployer)
        report = promote(
            weak.model_name,
            "dev",
            mlflow_server,
            lenient,
            version=weak.version,
            alias=None,
            approved_by=None,
            say=lambda _: None,
        )
        assert any(not g.passed for g in report.gates)
        assert report.outcome == Outcome.PROMOTED
    finally:
        deployer.stop()
    assert os.environ.get("MLOPS_APPROVED_BY") is None
