"""A tampered artifact is refused: the model server (`python -m ml.serve`, as the server image runs it) started
on a version whose pickle changed after registration exits non-zero with an error naming the version, both
hashes and what to do, and never unpickles it; the same for a tampered copy in its cache and for a version
registered without a hash (which the explicit opt-out lets through)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from contract import SERVER_ENV, TAG_ARTIFACT_SHA256, ModelRef
from ml.artifact_hash import ALLOW_UNHASHED_ENV
from tests.support.model_artifacts import (
    code_running_pickle,
    log_small_model,
    register_small_model,
    replace_in_artifact_store,
)
from tests.support.paths import REPO
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

EXIT_TIMEOUT_S = 120.0


def _server(uri: str, tracking_uri: str | None, cache: Path, **extra: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_"))}
    env.update(
        {
            SERVER_ENV["model_uri"]: uri,
            SERVER_ENV["model_cache"]: str(cache),
            SERVER_ENV["port"]: str(port),
            SERVER_ENV["prediction_log"]: "",
            **({SERVER_ENV["tracking_uri"]: tracking_uri} if tracking_uri else {}),
            **extra,
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "ml.serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return process, port


def _refused(uri: str, tracking_uri: str | None, cache: Path) -> str:
    """Start the server; it must exit non-zero without ever answering. Returns its stderr."""
    process, port = _server(uri, tracking_uri, cache)
    try:
        _, err = process.communicate(timeout=EXIT_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode not in (0, None), err
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
    return err


def test_server_on_a_version_tampered_in_the_artifact_store_exits_with_the_reason(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    version = register_small_model(mlflow_server, model_name, alias="champion")
    recorded = MlflowClient(mlflow_server, mlflow_server).get_model_version(model_name, version).tags
    marker = tmp_path / "pickle-ran"
    replace_in_artifact_store(mlflow_server, model_name, version, "model.pkl", code_running_pickle(marker))

    err = _refused(f"models:/{model_name}@champion", mlflow_server, tmp_path / "cache")
    assert "model server:" in err and ModelRef.pinned(model_name, version).uri in err
    assert f"but {recorded[TAG_ARTIFACT_SHA256]} was recorded" in err and "hash to sha256 " in err
    assert "re-register the model from a trusted run" in err
    assert "Traceback" not in err
    assert not marker.exists(), "the server unpickled the replaced model"
    assert list((tmp_path / "cache" / model_name / "versions").iterdir()) == []


def test_server_on_a_tampered_cached_copy_exits_with_the_reason(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    version = register_small_model(mlflow_server, model_name)
    uri, cache = ModelRef.pinned(model_name, version).uri, tmp_path / "cache"
    process, port = _server(uri, mlflow_server, cache)
    try:
        _wait_ready(process, port)
    finally:
        process.terminate()
        process.communicate(timeout=60)
    cached = cache / model_name / "versions" / version
    marker = tmp_path / "pickle-ran"
    (cached / "model" / "model.pkl").write_bytes(code_running_pickle(marker))

    # Restarted while the tracking server is down: the cached copy is all it has, and it is refused.
    err = _refused(uri, None, cache)
    assert f"{uri} (cached copy in {cached})" in err and f"delete {cached} to download it again" in err
    assert not marker.exists(), "the server unpickled the tampered cached model"


def test_server_on_an_unhashed_version_needs_the_opt_out(mlflow_server: str, model_name: str, tmp_path: Path) -> None:
    version = str(log_small_model(mlflow_server, registered_model_name=model_name).registered_model_version)
    uri = ModelRef.pinned(model_name, version).uri

    err = _refused(uri, mlflow_server, tmp_path / "cache")
    assert f"{uri} at {mlflow_server} has no `{TAG_ARTIFACT_SHA256}` tag" in err and f"{ALLOW_UNHASHED_ENV}=1" in err

    process, port = _server(uri, mlflow_server, tmp_path / "cache", **{ALLOW_UNHASHED_ENV: "1"})
    try:
        _wait_ready(process, port)
        assert requests.get(f"http://127.0.0.1:{port}/metadata", timeout=5).json()["version"] == version
    finally:
        process.terminate()
        process.communicate(timeout=60)


def _wait_ready(process: subprocess.Popen[str], port: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {process.communicate()[1]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready after {timeout_s:.0f} s")
