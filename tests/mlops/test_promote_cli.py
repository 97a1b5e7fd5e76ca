"""`mlops promote` turns a refused model artifact into one error line and exit 1, not a traceback."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from ml.artifact_hash import ArtifactIntegrityError
from mlops.cli import app


def test_a_tampered_candidate_is_one_error_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    import ml.promote.flow
    import mlops.cli.promote
    import mlops.stacks

    message = "model m version 3: artifact sha256 abc does not match the registered def; re-register it"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ArtifactIntegrityError(message)

    class Env:
        tracking_uri = "http://127.0.0.1:9"

    monkeypatch.setattr(ml.promote.flow, "promote", refuse)
    monkeypatch.setattr(mlops.stacks, "resolve", lambda name: Env())
    monkeypatch.setattr(mlops.cli.promote, "_target", lambda env, say, wait: object())
    result = CliRunner().invoke(app, ["promote", "m", "--from", "dev", "--to", "staging", "--version", "3"])
    assert result.exit_code == 1
    assert f"error: {message}" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
