"""`mlops monitor` from the command line, on a local prediction log and a local reference profile."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from tests.support.drift_data import log_frame, make_frame, write_log
from tests.support.paths import BIN


@pytest.fixture
def reference_file(tmp_path: Path, reference_profile: dict) -> Path:
    path = tmp_path / "reference_profile.json"
    path.write_text(json.dumps(reference_profile))
    return path


def _monitor(tmp_path: Path, reference: Path, *extra: str) -> tuple[int, str, dict | None]:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "--model",
            "churn",
            "--log-uri",
            str(tmp_path / "log"),
            "--reference",
            str(reference),
            "--out",
            str(out),
            "--no-log-run",
            *extra,
        ],
    )
    data = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else None
    return result.exit_code, result.output, data


def test_healthy_window_exits_zero(tmp_path: Path, reference_file: Path) -> None:
    write_log(tmp_path / "log", log_frame(make_frame(3000, seed=21)), "jsonl")
    code, output, data = _monitor(tmp_path, reference_file)
    assert code == 0, output
    assert data is not None and data["status"] == "healthy" and data["rows"] == 3000
    assert "drifted: none" in output


def test_drift_exits_three_and_reports_the_feature(tmp_path: Path, reference_file: Path) -> None:
    write_log(tmp_path / "log", log_frame(make_frame(3000, seed=22, shift={"income": 0.8})))
    code, output, data = _monitor(tmp_path, reference_file)
    assert code == 3, output
    assert data is not None and data["drifted_features"] == ["income"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<img alt='income' src='data:image/png;base64," in html
    assert "income" in output and "DRIFT" in output


def test_data_quality_failure_exits_five(tmp_path: Path, reference_file: Path) -> None:
    frame = make_frame(3000, seed=23)
    frame.loc[:600, "tenure"] = None
    write_log(tmp_path / "log", log_frame(frame))
    code, output, data = _monitor(tmp_path, reference_file)
    assert code == 5, output
    assert data is not None and any(i.startswith("tenure: null rate") for i in data["data_quality_issues"])


def test_window_outside_the_log_is_an_error_that_says_what_to_do(tmp_path: Path, reference_file: Path) -> None:
    write_log(tmp_path / "log", log_frame(make_frame(100, seed=24)))
    code, output, _ = _monitor(tmp_path, reference_file, "--since", "2030-01-01T00:00:00Z")
    assert code == 1
    assert "widen --window/--since" in output or "in the window" in output


def _words(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_missing_options_name_the_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["monitor", "--log-uri", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 2 and "--model NAME" in _words(result.output)
    result = CliRunner().invoke(
        app,
        ["monitor", "--model", "m", "--log-uri", str(tmp_path), "--reference", str(tmp_path / "nope.json")],
        terminal_width=200,
    )
    assert result.exit_code == 2 and "does not exist" in _words(result.output)


def test_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["monitor", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for fragment in ("0 healthy", "3 drift", "4 model quality decay", "5 data quality"):
        assert fragment in text


def test_served_model_uri_gives_name_and_alias() -> None:
    from mlops.cli.monitor import _model_from_uri

    assert _model_from_uri("models:/breast-cancer@champion") == ("breast-cancer", "champion")
    assert _model_from_uri("models:/breast-cancer/3") == ("breast-cancer", None)
    assert _model_from_uri(None) == (None, None)


def test_unknown_environment_is_an_error_that_names_the_alternatives() -> None:
    result = CliRunner().invoke(app, ["monitor", "--env", "no-such-env", "--model", "m"], terminal_width=200)
    assert result.exit_code == 1
    text = _words(result.output)
    assert "Unknown environment 'no-such-env'" in text and "--log-uri" in text


@pytest.mark.integration
def test_json_output_is_only_json_when_the_run_is_logged(
    tmp_path: Path, reference_file: Path, mlflow_server: str
) -> None:
    """A scheduler parses stdout: MLflow's "View run" lines must not land there when the run is logged."""
    write_log(tmp_path / "log", log_frame(make_frame(1000, seed=23)), "jsonl")
    done = subprocess.run(
        [
            str(BIN / "mlops"),
            "monitor",
            "--model",
            "churn",
            "--log-uri",
            str(tmp_path / "log"),
            "--reference",
            str(reference_file),
            "--out",
            str(tmp_path / "out"),
            "--tracking-uri",
            mlflow_server,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["tracking_run_id"] and result["rows"] == 1000


def test_an_orphaned_partial_file_does_not_fail_the_run(tmp_path: Path, reference_file: Path) -> None:
    """What a server killed while writing leaves in the log directory: a hidden, half-written file."""
    [written] = write_log(tmp_path / "log", log_frame(make_frame(3000, seed=21)), "parquet")
    whole = written.read_bytes()
    (written.parent / f".{written.name}.tmp").write_bytes(whole[: len(whole) // 2])
    (written.parent / f".09-{'c' * 32}.parquet").write_bytes(whole[:100])
    code, output, data = _monitor(tmp_path, reference_file)
    assert code == 0, output
    assert data is not None and data["rows"] == 3000
