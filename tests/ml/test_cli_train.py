"""`mlops train` and `mlops models list/show` through the real Typer app against a real MLflow server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlops.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_cli_import_stays_light() -> None:
    code = "import sys, mlops.cli; print(sorted(m for m in ('mlflow', 'sklearn', 'pandas') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", f"`mlops --help` would import {done.stdout.strip()}"


def test_train_without_a_tracking_server_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = runner.invoke(
        app, ["train", "--config", str(EXAMPLES / "breast_cancer" / "train.yaml")], terminal_width=200
    )
    assert result.exit_code == 2
    assert "--tracking-uri" in result.output and "--env" in result.output


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("dataset: x.yaml\nmodel_name: m\nestimator: {kind: svm}\n")
    result = runner.invoke(
        app, ["train", "--tracking-uri", "http://127.0.0.1:9", "--config", str(tmp_path / "t.yaml")], terminal_width=200
    )
    assert result.exit_code == 2 and "estimator.kind" in result.output


@pytest.mark.integration
def test_train_then_list_and_show(mlflow_server: str, tmp_path: Path) -> None:
    config = yaml.safe_load((EXAMPLES / "breast_cancer" / "train.yaml").read_text())
    config["dataset"] = str(EXAMPLES / "breast_cancer" / "dataset.yaml")
    config["model_name"] = name = f"cli-{uuid.uuid4().hex[:8]}"
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(
        app, ["train", "--tracking-uri", mlflow_server, "--config", str(tmp_path / "train.yaml")], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    for text in ("data ok: 569 rows", "fitting logistic_regression", f"{name} version 1 (challenger)", "test_roc_auc"):
        assert text in result.output, result.output
    assert "invariance_noise" in result.output and "pass" in result.output

    result = runner.invoke(
        app, ["train", "--tracking-uri", mlflow_server, "--config", str(tmp_path / "train.yaml"), "--json"]
    )
    summary = json.loads(result.stdout)
    assert result.exit_code == 0 and summary["version"] == "2" and summary["gates_passed"] is True
    assert summary["metrics"]["test_roc_auc"] > 0.95 and summary["timings_s"]["fit"] > 0

    listed = runner.invoke(app, ["models", "list", name, "--tracking-uri", mlflow_server, "--json"])
    versions = json.loads(listed.stdout)
    assert [v["version"] for v in versions] == ["2", "1"] and versions[0]["aliases"] == ["challenger"]
    table = runner.invoke(
        app, ["models", "list", name, "--tracking-uri", mlflow_server], terminal_width=200, env={"COLUMNS": "200"}
    )
    assert table.exit_code == 0 and "challenger" in table.output and "passed" in table.output

    shown = runner.invoke(app, ["models", "show", name, "challenger", "--tracking-uri", mlflow_server, "--json"])
    detail = json.loads(shown.stdout)
    assert detail["version"] == "2" and detail["tags"]["data.uri"] == "sklearn://breast_cancer"
    assert detail["metrics"]["test_f1"] > 0.9
    text = runner.invoke(
        app, ["models", "show", name, "1", "--tracking-uri", mlflow_server], terminal_width=200, env={"COLUMNS": "200"}
    )
    assert text.exit_code == 0 and "lineage" in text.output and "min_roc_auc" in text.output
    missing = runner.invoke(app, ["models", "show", name, "champion", "--tracking-uri", mlflow_server])
    assert missing.exit_code == 2 and "mlops models list" in missing.output


@pytest.mark.integration
def test_train_refuses_invalid_data_with_exit_1(mlflow_server: str, tmp_path: Path) -> None:
    spec = yaml.safe_load((EXAMPLES / "breast_cancer" / "dataset.yaml").read_text())
    spec["labels"] = [0, 2]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    name = f"cli-bad-{uuid.uuid4().hex[:8]}"
    config = {"dataset": "spec.yaml", "model_name": name, "estimator": {"kind": "logistic_regression"}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(
        app, ["train", "--tracking-uri", mlflow_server, "--config", str(tmp_path / "train.yaml")], terminal_width=200
    )
    assert result.exit_code == 1
    assert "label_set" in result.output and "nothing was trained or registered" in result.output
    listed = runner.invoke(app, ["models", "list", name, "--tracking-uri", mlflow_server])
    assert "no registered model versions" in listed.output


def test_unknown_env_is_a_usage_error_that_suggests_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = runner.invoke(app, ["models", "list", "--env", "no-such-env"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "no-such-env" in result.output and "--tracking-uri" in result.output


def test_tracking_uri_wins_over_env() -> None:
    from mlops.cli.options import resolve_tracking_uri

    assert resolve_tracking_uri("no-such-env", "http://127.0.0.1:5500") == "http://127.0.0.1:5500"


def _python_m_ml_train(*args: str) -> subprocess.CompletedProcess[str]:
    """The trainer image's entry point, as the image runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ml.train", *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_python_m_ml_train_exits_2_on_a_bad_config_or_without_a_tracking_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t.yaml").write_text("dataset: x.yaml\nmodel_name: m\nestimator: {kind: svm}\n")
    bad = _python_m_ml_train("--config", str(tmp_path / "t.yaml"), "--tracking-uri", "http://127.0.0.1:9")
    assert bad.returncode == 2 and "estimator.kind" in bad.stderr, bad.stderr
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    missing = _python_m_ml_train("--config", str(tmp_path / "t.yaml"))
    assert missing.returncode == 2 and "--tracking-uri" in missing.stderr, missing.stderr


@pytest.mark.integration
def test_python_m_ml_train_trains_and_registers_like_mlops_train(mlflow_server: str, tmp_path: Path) -> None:
    config = yaml.safe_load((EXAMPLES / "breast_cancer" / "train.yaml").read_text())
    config["dataset"] = str(EXAMPLES / "breast_cancer" / "dataset.yaml")
    config["model_name"] = f"python-m-{uuid.uuid4().hex[:8]}"
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    done = _python_m_ml_train("--config", str(tmp_path / "train.yaml"), "--tracking-uri", mlflow_server, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["model_name"] == config["model_name"] and summary["version"] == "1"
    assert summary["model_uri"] == f"models:/{config['model_name']}/1"
    assert summary["challenger"] is True and summary["gates_passed"] is True
    assert "data ok: 569 rows" in done.stderr

    config["gates"] = {"min_metrics": [{"metric": "roc_auc", "threshold": 1.01}]}
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(config))
    failed = _python_m_ml_train("--config", str(tmp_path / "strict.yaml"), "--tracking-uri", mlflow_server, "--json")
    assert failed.returncode == 3, failed.stderr
    assert json.loads(failed.stdout)["challenger"] is False
