"""The model side of the comment against a real `mlflow server` over HTTP, as CI reaches it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contract import TAG_GATES, TAG_GATES_PASSED
from mlops.cli import app

pytestmark = pytest.mark.integration

HAND = Path(__file__).parent / "fixtures" / "hand"
FIXTURE_MODEL = "breast-cancer"
"""The name the hand-written preview serves (versions 3 -> 4); the test swaps in a name of its own."""


def _register(url: str, name: str) -> None:
    """Versions 1-4 as `mlops train` leaves them: a test metric and gate tags; version 4 fails its gate."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment = client.create_experiment(f"ci-{name}")
    client.create_registered_model(name)
    for auc, passed in ((0.96, True), (0.97, True), (0.985, True), (0.991, False)):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "test_roc_auc", auc)
        client.set_terminated(run.info.run_id)
        gates = [{"name": "min_roc_auc", "passed": passed, "detail": f"roc_auc {auc}"}]
        client.create_model_version(
            name,
            source=f"runs:/{run.info.run_id}/model",
            run_id=run.info.run_id,
            tags={TAG_GATES: json.dumps(gates), TAG_GATES_PASSED: str(passed).lower()},
        )


def test_the_cli_compares_the_served_versions_over_http(mlflow_server: str, model_name: str, tmp_path: Path) -> None:
    _register(mlflow_server, model_name)
    preview = tmp_path / "prod-events.jsonl"
    preview.write_text(
        (HAND / "prod-events.jsonl").read_text().replace(f"models:/{FIXTURE_MODEL}", f"models:/{model_name}")
    )
    out = tmp_path / "comment.md"
    result = CliRunner().invoke(
        app,
        ["ci", "preview-comment", "--from-json", f"prod={preview}", "--tracking-uri", mlflow_server, "-o", str(out)],
    )
    assert result.exit_code == 0, result.stderr
    body = out.read_text()
    assert f"Tracking server: `{mlflow_server}`" in body
    assert f"`models:/{model_name}/3` → `models:/{model_name}/4`" in body
    assert "| `test_roc_auc` | 0.9850 | 0.9910 | +0.0060 |" in body
    assert "| `min_roc_auc` | ✅ roc_auc 0.985 | ❌ roc_auc 0.991 |" in body
