"""Server settings: env vars of the container contract, overridden by `mlops serve` options."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml.serve.loader import ModelRef
from ml.serve.settings import ServeSettings, SettingsError

ENV = {
    "MLOPS_MODEL_URI": "models:/m@champion",
    "MLFLOW_TRACKING_URI": "http://127.0.0.1:5500",
    "MLOPS_PORT": "9000",
    "MLOPS_WORKERS": "2",
    "MLOPS_PREDICTION_LOG_SAMPLE": "0.5",
    "MLOPS_EXTRA_COLUMNS": "ignore",
    "MLOPS_FAST_PATH": "false",
}


def test_defaults_follow_the_architecture_doc() -> None:
    s = ServeSettings.load(environ={"MLOPS_MODEL_URI": "models:/m/1"})
    assert (s.port, s.host, s.workers, s.model_cache) == (8080, "127.0.0.1", 1, Path("/var/cache/mlops/models"))
    assert (s.prediction_log, s.prediction_log_format, s.prediction_log_sample) == ("", "jsonl", 1.0)
    assert s.extra_columns == "reject" and s.fast_path
    assert (s.header_timeout, s.body_timeout, s.keep_alive, s.limit_concurrency) == (10.0, 30.0, 5, 256)
    assert (s.prediction_log_max_rows, s.prediction_log_max_bytes) == (100_000, 64 * 1024 * 1024)


def test_env_is_read_and_options_win() -> None:
    s = ServeSettings.load(environ=ENV)
    assert (s.port, s.workers, s.prediction_log_sample, s.extra_columns, s.fast_path) == (9000, 2, 0.5, "ignore", False)
    s = ServeSettings.load({"port": 9100, "workers": None, "fast_path": True}, environ=ENV)
    assert (s.port, s.workers, s.fast_path) == (9100, 2, True)


def test_settings_round_trip_through_worker_env() -> None:
    s = ServeSettings.load({"port": 9100}, environ=ENV)
    assert ServeSettings.load(environ=s.to_env()) == s


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MLOPS_MODEL_URI / --model-uri is required"),
        ({**ENV, "MLOPS_PORT": "http"}, "MLOPS_PORT / --port"),
        ({**ENV, "MLOPS_PORT": "70000"}, "port 70000"),
        ({**ENV, "MLOPS_WORKERS": "0"}, "workers 0"),
        ({**ENV, "MLOPS_PREDICTION_LOG_SAMPLE": "2"}, "fraction"),
        ({**ENV, "MLOPS_EXTRA_COLUMNS": "drop"}, "'reject' or 'ignore'"),
        ({**ENV, "MLOPS_FAST_PATH": "maybe"}, "MLOPS_FAST_PATH"),
        ({**ENV, "MLOPS_PREDICTION_LOG_FORMAT": "csv"}, "jsonl"),
        ({**ENV, "MLOPS_HEADER_TIMEOUT": "0"}, "header timeout"),
        ({**ENV, "MLOPS_BODY_TIMEOUT": "soon"}, "MLOPS_BODY_TIMEOUT"),
        ({**ENV, "MLOPS_KEEP_ALIVE": "-1"}, "keep-alive"),
        ({**ENV, "MLOPS_LIMIT_CONCURRENCY": "1"}, "limit concurrency"),
        ({**ENV, "MLOPS_PREDICTION_LOG_MAX_ROWS": "9999"}, "a full batch could never be logged"),
        ({**ENV, "MLOPS_PREDICTION_LOG_MAX_BYTES": "1000"}, "at least 1 MiB"),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        ServeSettings.load(environ=env)


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        ("models:/breast-cancer@champion", ModelRef("breast-cancer", None, "champion")),
        ("models:/breast-cancer/3", ModelRef("breast-cancer", "3", None)),
    ],
)
def test_model_uris(uri: str, ref: ModelRef) -> None:
    assert ModelRef.parse(uri) == ref


@pytest.mark.parametrize("uri", ["breast-cancer", "models:/a", "models:/a/latest", "runs:/abc/model", "models:/a@"])
def test_bad_model_uris_show_the_expected_form(uri: str) -> None:
    with pytest.raises(ValueError, match="models:/NAME@ALIAS or models:/NAME/VERSION"):
        ModelRef.parse(uri)


def test_cli_reports_bad_settings_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops.cli import app

    monkeypatch.delenv("MLOPS_MODEL_URI", raising=False)
    result = CliRunner().invoke(app, ["serve", "--port", "8081"])
    assert result.exit_code == 2
    assert "--model-uri is required" in result.output
    result = CliRunner().invoke(app, ["serve", "--model-uri", "nope"])
    assert result.exit_code == 2 and "models:/NAME@ALIAS" in result.output


def test_the_balancer_takes_the_bodies_the_server_takes() -> None:
    """nginx in front of the replicas must not refuse (with an HTML page) a body the server accepts."""
    import re

    from tests.support.paths import REPO

    conf = (REPO / "infra" / "images" / "balancer.conf").read_text()
    limit = re.search(r"client_max_body_size (\d+)m;", conf)
    assert limit is not None, "balancer.conf sets no client_max_body_size"
    assert int(limit.group(1)) * 1024 * 1024 == ServeSettings(model_uri="models:/m/1").max_body_bytes
    assert '"error": "body_too_large"' in conf and "default_type application/json" in conf
    defaults = ServeSettings(model_uri="models:/m/1")
    timeouts = {
        k: float(v)
        for k, v in re.findall(r"(client_header_timeout|client_body_timeout|keepalive_timeout) (\d+)s;", conf)
    }
    assert timeouts == {
        "client_header_timeout": defaults.header_timeout,
        "client_body_timeout": defaults.body_timeout,
        "keepalive_timeout": defaults.keep_alive,
    }
