"""Model reference resolution when nothing answers (the resolution against a real MLflow server is in
test_platform_docker.py)."""

from __future__ import annotations

import logging
import socket

import pytest

from infra import model_ref


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_no_reference_resolves_to_nothing_without_asking() -> None:
    assert model_ref.resolve("", "http://127.0.0.1:1") == ""


def test_unreachable_tracking_server_means_no_replicas_and_says_what_to_do(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="infra.model_ref"):
        assert model_ref.resolve("models:/m@champion", f"http://127.0.0.1:{closed_port()}") == ""
    assert "no serving replicas" in caplog.text and "pulumi up" in caplog.text


def test_a_malformed_reference_is_an_error() -> None:
    with pytest.raises(ValueError, match="models:/NAME@ALIAS"):
        model_ref.resolve("breast-cancer@champion", "http://127.0.0.1:1")
