"""The artifact hash of a model directory, and the check every load makes before unpickling anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.artifact_hash import (
    ALLOW_UNHASHED_ENV,
    TAG,
    ArtifactIntegrityError,
    artifact_sha256,
    recorded_sha256,
    verify_artifacts,
)


def _model_dir(root: Path) -> Path:
    model = root / "model"
    (model / "code").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "model.pkl").write_bytes(b"\x80\x04pickled")
    (model / "requirements.txt").write_text("scikit-learn\n")
    (model / "code" / "helper.py").write_text("X = 1\n")
    return model


def test_same_files_same_digest_wherever_they_are(tmp_path: Path) -> None:
    one, two = _model_dir(tmp_path / "a"), _model_dir(tmp_path / "b")
    digest = artifact_sha256(one)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert artifact_sha256(two) == digest


@pytest.mark.parametrize(
    "change",
    [
        lambda m: (m / "model.pkl").write_bytes(b"\x80\x04pickleD"),
        lambda m: (m / "model.pkl").write_bytes(b"\x80\x04pickled\n"),
        lambda m: (m / "code" / "helper.py").rename(m / "code" / "other.py"),
        lambda m: (m / "code" / "evil.py").write_text(""),
        lambda m: (m / "requirements.txt").unlink(),
        # Moving bytes from one file's end to the next file's start must change the digest too.
        lambda m: ((m / "MLmodel").write_text("flavors: {}"), (m / "model.pkl").write_bytes(b"\n\x80\x04pickled")),
    ],
    ids=["one byte", "appended", "renamed", "added", "removed", "boundary"],
)
def test_any_change_to_paths_or_contents_changes_the_digest(tmp_path: Path, change) -> None:  # type: ignore[no-untyped-def]
    model = _model_dir(tmp_path)
    before = artifact_sha256(model)
    change(model)
    assert artifact_sha256(model) != before


def test_mlflow_registered_model_meta_is_left_out(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    before = artifact_sha256(model)
    (model / "registered_model_meta").write_text("model_name: m\nmodel_version: '3'\n")
    assert artifact_sha256(model) == before
    (model / "code" / "registered_model_meta").write_text("only the top-level one is MLflow's")
    assert artifact_sha256(model) != before


def test_symlinks_and_missing_directories_are_refused(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    (model / "linked.pkl").symlink_to(tmp_path / "elsewhere.pkl")
    with pytest.raises(ArtifactIntegrityError, match="symbolic link"):
        artifact_sha256(model)
    with pytest.raises(ArtifactIntegrityError, match="not a model directory"):
        artifact_sha256(tmp_path / "nothing")


def test_verify_accepts_the_recorded_digest_and_refuses_another(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    recorded = artifact_sha256(model)
    assert verify_artifacts(model, recorded, "models:/m/1") == recorded
    (model / "model.pkl").write_bytes(b"\x80\x04tampered")
    with pytest.raises(ArtifactIntegrityError) as refused:
        verify_artifacts(model, recorded, "models:/m/1")
    message = str(refused.value)
    assert "models:/m/1" in message and recorded in message and artifact_sha256(model) in message
    assert "re-register" in message and TAG in message


def test_unhashed_version_is_refused_unless_the_opt_out_is_set(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model = _model_dir(tmp_path)
    assert recorded_sha256({"data.sha256": "x"}) is None and recorded_sha256({TAG: ""}) is None
    monkeypatch.delenv(ALLOW_UNHASHED_ENV, raising=False)
    with pytest.raises(ArtifactIntegrityError, match=f"models:/m/2 has no `{TAG}` tag.*{ALLOW_UNHASHED_ENV}=1"):
        verify_artifacts(model, None, "models:/m/2")
    monkeypatch.setenv(ALLOW_UNHASHED_ENV, "0")
    with pytest.raises(ArtifactIntegrityError):
        verify_artifacts(model, None, "models:/m/2")
    monkeypatch.setenv(ALLOW_UNHASHED_ENV, "1")
    assert verify_artifacts(model, None, "models:/m/2") == artifact_sha256(model)
