"""Model versions read from a real MLflow registry (SQLite store), and the comment's model section."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from contract import MODEL_URI_HELP
from ml.promote.model_change import ModelRef, compare
from mlops.previews.comment import StackReport, render
from mlops.previews.preview import load_preview
from mlops.previews.records import ModelRefChange
from tests.support.ports import free_port

NAME = "breast-cancer"
HAND = Path(__file__).parent / "fixtures" / "hand"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two registered versions as `mlops train` leaves them: test_* metrics, gate tags, v2 is champion."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("ci", artifact_location=(root / "artifacts").as_uri())
    client.create_registered_model(NAME)
    versions = [
        ({"test_accuracy": 0.93, "test_f1": 0.91, "train_loss": 0.2}, {"schema": True, "min_quality": True}, "true"),
        ({"test_accuracy": 0.96, "test_f1": 0.95, "train_loss": 0.1}, {"schema": True, "min_quality": False}, "false"),
    ]
    for metrics, gates, passed in versions:
        run = client.create_run(experiment)
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id)
        # The list `mlops train` writes (ml.gates.GateResult.to_dict()).
        gate_tag = json.dumps(
            [
                {
                    "name": name,
                    "kind": "model",
                    "passed": ok,
                    "value": None,
                    "threshold": 0.0,
                    "detail": f"{name} checked",
                }
                for name, ok in gates.items()
            ]
        )
        client.create_model_version(
            NAME,
            source=(root / "artifacts" / run.info.run_id / "model").as_uri(),
            run_id=run.info.run_id,
            tags={"gates": gate_tag, "gates.passed": passed},
        )
    client.set_registered_model_alias(NAME, "champion", "2")
    return uri


def test_both_sides_resolve_with_metrics_and_gates(registry: str) -> None:
    change = ModelRefChange(f"models:/{NAME}/1", f"models:/{NAME}@champion", "serving containers")
    result = compare(change, registry)
    assert result.unavailable is None
    assert result.old.facts and result.new.facts
    assert (result.old.facts.version, result.new.facts.version) == ("1", "2")
    assert result.new.facts.metrics["test_f1"] == pytest.approx(0.95)
    assert result.metric_names() == ["test_accuracy", "test_f1"]
    assert result.old.facts.gates_passed is True and result.new.facts.gates_passed is False
    assert {g.name: g.passed for g in result.new.facts.gates} == {"schema": True, "min_quality": False}


def test_the_comment_puts_metrics_and_gates_side_by_side(registry: str) -> None:
    change = ModelRefChange(f"models:/{NAME}/1", f"models:/{NAME}/2", "serving containers", ("mlops-serving-0",))
    preview = load_preview("dev", (HAND / "dev-digest.json").read_text())
    body = render([StackReport("dev", preview, models=[compare(change, registry)])])
    assert "| `test_f1` | 0.9100 | 0.9500 | +0.0400 |" in body
    assert "| `test_accuracy` | 0.9300 | 0.9600 | +0.0300 |" in body
    assert "train_loss" not in body
    assert "| `min_quality` | ✅ min_quality checked | ❌ min_quality checked |" in body
    assert "| v1 (old) | v2 (new) |" in body


def test_a_missing_version_is_named_and_the_other_side_still_shows(registry: str) -> None:
    change = ModelRefChange(f"models:/{NAME}/1", f"models:/{NAME}/9", "stack config")
    result = compare(change, registry)
    assert result.old.facts is not None
    assert result.new.facts is None and result.new.problem and "version 9" in result.new.problem
    body = render([StackReport("dev", load_preview("dev", (HAND / "dev-digest.json").read_text()), models=[result])])
    assert "`models:/breast-cancer/9`: model 'breast-cancer' has no version 9" in body


def test_an_unreachable_tracking_server_degrades_quickly_and_says_so() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = compare(ModelRefChange(f"models:/{NAME}/1", f"models:/{NAME}/2", "serving containers"), uri, timeout=2)
    assert time.monotonic() - started < 10
    assert result.unavailable and "unreachable" in result.unavailable and uri in result.unavailable
    assert result.old.facts is None and result.new.facts is None


def test_no_tracking_server_known_says_how_to_give_one() -> None:
    result = compare(ModelRefChange(None, f"models:/{NAME}/2", "stack config"), None)
    assert result.unavailable and "--tracking-uri" in result.unavailable


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/breast-cancer/3", ModelRef("breast-cancer", "3", None)),
        ("models:/breast-cancer@champion", ModelRef("breast-cancer", None, "champion")),
    ],
)
def test_model_references_parse(uri: str, expected: ModelRef) -> None:
    assert ModelRef.parse(uri) == expected


@pytest.mark.parametrize("uri", ["runs:/abc/model", "models:/x", "models:/x/latest", ""])
def test_other_references_are_rejected_with_the_expected_forms(uri: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"expected {MODEL_URI_HELP}")):
        ModelRef.parse(uri)


def test_gates_written_as_a_mapping_are_read_too() -> None:
    from ml.promote.model_change import facts_from

    facts = facts_from(
        "m", "1", {"gates": '{"schema": {"passed": true}, "quality": false}', "gates.passed": "false"}, {}
    )
    assert [(g.name, g.passed) for g in facts.gates] == [("schema", True), ("quality", False)]
    assert facts.gates_passed is False


def test_a_first_deployment_shows_the_new_version_against_none(registry: str) -> None:
    change = ModelRefChange(None, f"models:/{NAME}/2", "serving containers", ("mlops-serving-replica-0",))
    result = compare(change, registry)
    assert result.old.facts is None and result.old.problem is None
    body = render([StackReport("dev", load_preview("dev", (HAND / "dev-digest.json").read_text()), models=[result])])
    assert "| Metric | none (old) | v2 (new) | Δ |" in body
    assert "| `test_f1` | - | 0.9500 | - |" in body
