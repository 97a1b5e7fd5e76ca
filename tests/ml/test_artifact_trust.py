"""A model version is loaded only when its files hash to what was recorded at registration, against a real
MLflow server: registration records the tag, an intact version loads (from the registry and from the server's
cache), a pickle replaced in the artifact store or in the cache is refused before it is unpickled, an untagged
version is refused unless the opt-out is set, and two replicas filling one cache at once both end up with the
same verified copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from contract import TAG_ARTIFACT_SHA256, ModelRef
from ml.artifact_hash import ALLOW_UNHASHED_ENV, ArtifactIntegrityError, artifact_sha256
from tests.support.model_artifacts import (
    code_running_pickle,
    log_small_model,
    register_small_model,
    replace_in_artifact_store,
    small_frame,
)
from tests.support.paths import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_UNHASHED_ENV, raising=False)


def _recorded(tracking_uri: str, name: str, version: str) -> str:
    from mlflow import MlflowClient

    return str(MlflowClient(tracking_uri, tracking_uri).get_model_version(name, version).tags[TAG_ARTIFACT_SHA256])


def _downloaded_sha256(tracking_uri: str, name: str, version: str) -> str:
    import mlflow

    from ml.mlflow_log import tracking_to

    with tempfile.TemporaryDirectory() as tmp, tracking_to(tracking_uri):
        local = mlflow.artifacts.download_artifacts(artifact_uri=ModelRef.pinned(name, version).uri, dst_path=tmp)
        return artifact_sha256(Path(local))


def _fetch(uri: str, tracking_uri: str | None, cache: Path) -> Path:
    """The server's loader, with MLflow's process-wide URIs put back afterwards (it sets them for its process)."""
    from ml.mlflow_log import tracking_to
    from ml.serve.loader import fetch

    if tracking_uri is None:
        return fetch(uri, None, cache)
    with tracking_to(tracking_uri):
        return fetch(uri, tracking_uri, cache)


def test_registration_records_the_hash_of_the_stored_files(mlflow_server: str, model_name: str) -> None:
    version = register_small_model(mlflow_server, model_name)
    recorded = _recorded(mlflow_server, model_name, version)
    assert len(recorded) == 64
    assert recorded == _downloaded_sha256(mlflow_server, model_name, version)


def test_training_registers_the_artifact_hash(mlflow_server: str, model_name: str) -> None:
    from ml.train import run_training
    from ml.training_config import load_config_and_spec
    from tests.support.paths import EXAMPLES

    config, spec = load_config_and_spec(EXAMPLES / "breast_cancer" / "train.yaml")
    result = run_training(config.model_copy(update={"model_name": model_name}), spec, mlflow_server)
    assert _recorded(mlflow_server, model_name, result.version) == _downloaded_sha256(
        mlflow_server, model_name, result.version
    )


def test_intact_version_loads_from_the_registry_and_the_cache(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    from ml.promote.versions import get_version
    from ml.serve.loader import Manifest
    from ml.serve.predictor import load_predictor

    version = register_small_model(mlflow_server, model_name, alias="champion")
    frame, _ = small_frame(5, seed=1)
    loaded = get_version(mlflow_server, model_name, version=version).load()
    assert loaded.predict(frame).shape == (5,)

    cached = _fetch(f"models:/{model_name}@champion", mlflow_server, tmp_path)
    assert Manifest.read(cached).artifact_sha256 == _recorded(mlflow_server, model_name, version)
    again = _fetch(ModelRef.pinned(model_name, version).uri, None, tmp_path)  # from the cache, no registry
    assert again == cached
    predictor = load_predictor(cached, "champion")
    assert predictor.model.predict(frame).tolist() == loaded.predict(frame).tolist()


def test_pickle_replaced_in_the_artifact_store_is_never_unpickled(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    from ml.promote.versions import get_version
    from ml.serve.loader import ModelLoadError

    version = register_small_model(mlflow_server, model_name, alias="champion")
    recorded = _recorded(mlflow_server, model_name, version)
    marker = tmp_path / "pickle-ran"
    replace_in_artifact_store(mlflow_server, model_name, version, "model.pkl", code_running_pickle(marker))
    tampered = _downloaded_sha256(mlflow_server, model_name, version)
    assert tampered != recorded

    cache = tmp_path / "cache"
    with pytest.raises(ModelLoadError) as refused:
        _fetch(f"models:/{model_name}@champion", mlflow_server, cache)
    message = str(refused.value)
    assert f"models:/{model_name}/{version}" in message and recorded in message and tampered in message
    assert "re-register" in message
    # Nothing published into the cache, and no download left behind.
    assert list((cache / model_name / "versions").iterdir()) == []

    candidate = get_version(mlflow_server, model_name, version=version)
    with pytest.raises(ArtifactIntegrityError, match=f"{recorded}.*recorded"):
        candidate.load()
    with pytest.raises(ArtifactIntegrityError):
        candidate.input_schema()
    assert not marker.exists(), "the replaced pickle was unpickled"


def test_tampered_cache_copy_is_refused_offline_and_online(mlflow_server: str, model_name: str, tmp_path: Path) -> None:
    from ml.serve.loader import ModelLoadError
    from ml.serve.predictor import load_predictor

    version = register_small_model(mlflow_server, model_name, alias="champion")
    cached = _fetch(f"models:/{model_name}@champion", mlflow_server, tmp_path)
    marker = tmp_path / "pickle-ran"
    (cached / "model" / "model.pkl").write_bytes(code_running_pickle(marker))

    for uri, tracking in [
        (ModelRef.pinned(model_name, version).uri, None),  # a restart while the tracking server is down
        (f"models:/{model_name}@champion", mlflow_server),  # resolved on the registry, found in the cache
    ]:
        with pytest.raises(ModelLoadError, match=f"cached copy in {cached}.*delete {cached} to download it again"):
            _fetch(uri, tracking, tmp_path)
    with pytest.raises(ModelLoadError, match="re-register"):
        load_predictor(cached, "champion")  # what each worker does, should the copy change after the runner's check
    assert not marker.exists(), "the tampered cached pickle was unpickled"


def test_untagged_version_is_refused_unless_opted_out(
    mlflow_server: str, model_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.promote.versions import get_version
    from ml.serve.loader import ModelLoadError
    from ml.serve.predictor import load_predictor

    version = str(log_small_model(mlflow_server, registered_model_name=model_name).registered_model_version)
    uri = ModelRef.pinned(model_name, version).uri
    with pytest.raises(ModelLoadError, match=f"{uri} at .* has no `{TAG_ARTIFACT_SHA256}` tag.*{ALLOW_UNHASHED_ENV}=1"):
        _fetch(uri, mlflow_server, tmp_path)
    with pytest.raises(ArtifactIntegrityError, match=ALLOW_UNHASHED_ENV):
        get_version(mlflow_server, model_name, version=version).load()

    monkeypatch.setenv(ALLOW_UNHASHED_ENV, "1")
    cached = _fetch(uri, mlflow_server, tmp_path)
    frame, _ = small_frame(4, seed=2)
    assert load_predictor(cached, None).model.predict(frame).shape == (4,)
    assert get_version(mlflow_server, model_name, version=version).load().predict(frame).shape == (4,)
    monkeypatch.delenv(ALLOW_UNHASHED_ENV)
    with pytest.raises(ModelLoadError, match=ALLOW_UNHASHED_ENV):
        _fetch(uri, None, tmp_path)  # the cached copy is no more trusted than the registry's


# Waits for the go file, so both processes have imported MLflow and start downloading together. Prints the
# inode of the model file it was handed: a replica must never replace a copy another one is already using.
_REPLICA = """
import json, sys, time
from pathlib import Path
from ml.serve.loader import fetch
from ml.artifact_hash import artifact_sha256
go = Path(sys.argv[4])
Path(sys.argv[5]).touch()
while not go.exists():
    time.sleep(0.002)
path = fetch(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
inode = (path / "model" / "model.pkl").stat().st_ino
print(json.dumps({"path": str(path), "sha256": artifact_sha256(path / "model"), "inode": inode}))
"""


def _replicas_fetch_together(uri: str, tracking_uri: str, cache: Path, workdir: Path) -> list[dict[str, object]]:
    go = workdir / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", _REPLICA, uri, tracking_uri, str(cache), str(go), str(workdir / f"ready-{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 120
    while not all((workdir / f"ready-{i}").exists() for i in range(2)):
        if time.monotonic() > deadline or any(p.poll() is not None for p in replicas):
            for p in replicas:
                p.kill()
            pytest.fail(f"replicas did not get ready: {[p.communicate() for p in replicas]}")
        time.sleep(0.02)
    go.touch()
    results = []
    for replica in replicas:
        out, err = replica.communicate(timeout=120)
        assert replica.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.parametrize("attempt", [1, 2])
def test_two_replicas_fill_one_cache_at_once(mlflow_server: str, model_name: str, tmp_path: Path, attempt) -> None:  # type: ignore[no-untyped-def]
    version = register_small_model(mlflow_server, model_name, alias="champion")
    cache = tmp_path / "cache"
    results = _replicas_fetch_together(f"models:/{model_name}@champion", mlflow_server, cache, tmp_path)

    recorded = _recorded(mlflow_server, model_name, version)
    published = cache / model_name / "versions" / version
    inode = (published / "model" / "model.pkl").stat().st_ino
    expected = {"path": str(published), "sha256": recorded, "inode": inode}
    assert results == [expected, expected]
    assert [p.name for p in published.parent.iterdir()] == [version]  # no private download left behind
    aliases = cache / model_name / "aliases"
    assert [p.name for p in aliases.iterdir()] == ["champion.json"]
    assert json.loads((aliases / "champion.json").read_text()) == {"version": version}


def test_a_copy_another_replica_published_first_is_checked_and_kept(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    """The loser of the race: its download is discarded, the published copy is verified and used as it is."""
    from mlflow import MlflowClient

    from ml.mlflow_log import tracking_to
    from ml.serve import loader

    version = register_small_model(mlflow_server, model_name)
    ref = ModelRef.parse(ModelRef.pinned(model_name, version).uri)
    published = _fetch(ref.uri, mlflow_server, tmp_path)
    inode = (published / "model" / "model.pkl").stat().st_ino
    mv = MlflowClient(mlflow_server, mlflow_server).get_model_version(model_name, version)
    with tracking_to(mlflow_server):
        loader._download_and_publish(ref, mv, mlflow_server, published)
    assert (published / "model" / "model.pkl").stat().st_ino == inode
    assert [p.name for p in published.parent.iterdir()] == [version]

    (published / "model" / "model.pkl").write_bytes(b"not the registered pickle")
    with tracking_to(mlflow_server), pytest.raises(loader.ModelLoadError, match=r"delete .* to download it again"):
        loader._download_and_publish(ref, mv, mlflow_server, published)
    assert [p.name for p in published.parent.iterdir()] == [version]


def test_promotion_copy_carries_the_hash_and_refuses_a_tampered_source(
    mlflow_server: str, other_mlflow_server: str, model_name: str
) -> None:
    from mlflow import MlflowClient

    from ml.promote.transfer import copy_version, lineage_tags
    from ml.promote.versions import get_version

    version = register_small_model(mlflow_server, model_name)
    candidate = get_version(mlflow_server, model_name, version=version)
    copied = copy_version(candidate, "dev", other_mlflow_server, lineage_tags("dev", candidate, [], None, "p-1"))
    recorded = _recorded(mlflow_server, model_name, version)
    assert copied.tags[TAG_ARTIFACT_SHA256] == recorded
    assert _downloaded_sha256(other_mlflow_server, model_name, copied.version) == recorded

    replace_in_artifact_store(mlflow_server, model_name, version, "model.pkl", b"tampered")
    with pytest.raises(ArtifactIntegrityError, match=recorded):
        copy_version(candidate, "dev", other_mlflow_server, lineage_tags("dev", candidate, [], None, "p-2"))
    target = MlflowClient(other_mlflow_server, other_mlflow_server)
    assert [mv.version for mv in target.search_model_versions(f"name = '{model_name}'")] == [copied.version]


def test_mlops_models_trust_records_the_hash_of_an_unhashed_version_once(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    """The way forward for versions registered before hashes existed: the operator vouches for the files as
    they are, once; the version then loads, and a hash already recorded is never overwritten."""
    from typer.testing import CliRunner

    from ml.promote.versions import get_version
    from mlops.cli import app

    version = str(log_small_model(mlflow_server, registered_model_name=model_name).registered_model_version)
    with pytest.raises(ArtifactIntegrityError, match="mlops models trust NAME VERSION"):
        get_version(mlflow_server, model_name, version=version).load()
    runner = CliRunner()
    args = ["models", "trust", model_name, version, "--tracking-uri", mlflow_server]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    digest = _recorded(mlflow_server, model_name, version)
    assert digest == _downloaded_sha256(mlflow_server, model_name, version)
    assert f"recorded {TAG_ARTIFACT_SHA256}={digest}" in first.output
    frame, _ = small_frame(4, seed=2)
    assert get_version(mlflow_server, model_name, version=version).load().predict(frame).shape == (4,)
    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert f"already has {TAG_ARTIFACT_SHA256}={digest}" in again.output


def test_a_copy_cached_before_hashes_loads_once_the_registry_holds_its_hash(
    mlflow_server: str, model_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server upgraded over a cache filled before hashes existed: its pinned copy is checked against the
    registry (not refused for its manifest alone) and adopts the hash once `mlops models trust` recorded it."""
    from mlflow import MlflowClient

    from ml.registry import tag_artifact_sha256
    from ml.serve.loader import ModelLoadError, verify_cached

    version = str(log_small_model(mlflow_server, registered_model_name=model_name).registered_model_version)
    uri = ModelRef.pinned(model_name, version).uri
    monkeypatch.setenv(ALLOW_UNHASHED_ENV, "1")
    cached = _fetch(uri, mlflow_server, tmp_path)
    monkeypatch.delenv(ALLOW_UNHASHED_ENV)
    assert json.loads((cached / "manifest.json").read_text())["artifact_sha256"] is None
    with pytest.raises(ModelLoadError, match=f"no `{TAG_ARTIFACT_SHA256}` tag"):
        _fetch(uri, mlflow_server, tmp_path)  # the registry has no hash yet either
    digest = tag_artifact_sha256(MlflowClient(mlflow_server, mlflow_server), model_name, version)
    assert _fetch(uri, mlflow_server, tmp_path) == cached
    assert verify_cached(cached).artifact_sha256 == digest
    assert _fetch(uri, None, tmp_path) == cached  # and offline from now on
