"""A copied version keeps its gate results whole, through a real MLflow server."""

from __future__ import annotations

import json

import pytest

from contract import TAG_PROMOTION_GATES
from ml.mlflow_log import tracking_to
from ml.promote.audit import TAG_CHUNK, _joined
from ml.promote.checks import GateResult
from ml.promote.transfer import copy_version, lineage_tags, run_tags
from ml.promote.versions import get_version

pytestmark = pytest.mark.integration


def register(tracking_uri: str, name: str) -> None:
    import mlflow
    from mlflow import MlflowClient
    from sklearn.dummy import DummyClassifier

    from ml.registry import register_version

    model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
    with tracking_to(tracking_uri):
        mlflow.set_experiment("transfer-tests")
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(model, name="model")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    register_version(client, name, info.model_uri, info.model_id, run.info.run_id, {"task": "binary"})


def test_a_gate_result_of_20000_characters_round_trips_exactly(mlflow_server, model_name):
    register(mlflow_server, model_name)
    candidate = get_version(mlflow_server, model_name, version="1")
    detail = "".join(chr(0x41 + i % 26) if i % 7 else "é" for i in range(20_000))
    gates = [GateResult("champion:roc_auc", True, detail), GateResult("signature", False, "new required input 'x'")]
    tags = lineage_tags("dev", candidate, gates, "alice", "p-20000")
    assert len(tags[TAG_PROMOTION_GATES]) > 4 * TAG_CHUNK

    copied = copy_version(candidate, "dev", mlflow_server, tags)

    # The version's tag, which readers (`mlops models`, the pull-request previews) parse, is whole.
    assert copied.tags[TAG_PROMOTION_GATES] == tags[TAG_PROMOTION_GATES]
    assert json.loads(copied.tags[TAG_PROMOTION_GATES]) == [g.to_dict() for g in gates]
    # So is the copy's run, in parts no longer than a tag may be.
    from mlflow import MlflowClient

    run = MlflowClient(tracking_uri=mlflow_server).get_run(copied.run_id)
    assert _joined(run.data.tags, TAG_PROMOTION_GATES) == tags[TAG_PROMOTION_GATES]
    assert int(run.data.tags[f"{TAG_PROMOTION_GATES}.parts"]) == -(-len(tags[TAG_PROMOTION_GATES]) // TAG_CHUNK)
    assert all(len(v) <= TAG_CHUNK for k, v in run.data.tags.items() if k.startswith(TAG_PROMOTION_GATES))
    assert run.data.tags["lineage.source_env"] == "dev"


def test_short_tags_are_kept_as_they_are_and_long_ones_split():
    tags = run_tags({"a": "x", "b": "y" * (TAG_CHUNK + 1)})
    assert tags == {"a": "x", "b": "", "b.parts": "2", "b.0": "y" * TAG_CHUNK, "b.1": "y"}
