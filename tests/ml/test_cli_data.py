"""`mlops data validate` and `mlops data generate` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from mlops.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_validate_example_passes_with_table_and_json() -> None:
    spec = str(EXAMPLES / "breast_cancer" / "dataset.yaml")
    result = runner.invoke(app, ["data", "validate", spec])
    assert result.exit_code == 0, result.output
    assert "569 rows" in result.output and "valid: no violations" in result.output
    result = runner.invoke(app, ["data", "validate", spec, "--json"])
    payload = json.loads(result.stdout)
    assert result.exit_code == 0 and payload["ok"] is True and len(payload["sha256"]) == 64


def test_validate_reports_every_violation_and_exits_1(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 200.0, None], "c": ["a", "b", "zz"], "y": [0, 1, 5], "extra": [1, 2, 3]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = {
        "name": "toy",
        "source": {"uri": "d.csv"},
        "target": "y",
        "task": "binary",
        "labels": [0, 1],
        "columns": {
            "x": {"type": "float", "min": 0, "max": 100},
            "c": {"type": "category", "categories": ["a", "b"]},
            "missing": {"type": "int"},
        },
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "spec.yaml"), "--json"])
    assert result.exit_code == 1
    kinds = {v["kind"] for v in json.loads(result.stdout)["violations"]}
    assert kinds == {"missing_column", "extra_column", "out_of_range", "null_rate", "unknown_category", "label_set"}
    table = runner.invoke(
        app, ["data", "validate", str(tmp_path / "spec.yaml")], terminal_width=200, env={"COLUMNS": "200"}
    )
    assert table.exit_code == 1
    for kind in kinds:
        assert kind in table.output
    assert "training refuses this dataset" in table.output


def test_bad_spec_exits_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        "name: x\nsource: {uri: d.csv}\ntarget: y\ntask: binary\ncolumns: {a: {type: str}}\n"
    )
    result = runner.invoke(
        app, ["data", "validate", str(tmp_path / "spec.yaml")], terminal_width=200, env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "columns.a.type" in result.output


def test_generate_writes_a_seeded_file_with_drift(tmp_path: Path) -> None:
    out = tmp_path / "g.parquet"
    result = runner.invoke(
        app, ["data", "generate", "--rows", "500", "--seed", "4", "--drift", "age=3", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 500 and "wrote 500 rows" in result.output
    again = tmp_path / "h.parquet"
    runner.invoke(app, ["data", "generate", "--rows", "500", "--seed", "4", "--drift", "age=3", "-o", str(again)])
    assert out.read_bytes() == again.read_bytes()
    bad = runner.invoke(app, ["data", "generate", "--rows", "5", "--drift", "nope=1", "-o", str(out)])
    assert bad.exit_code == 2 and "unknown column 'nope'" in bad.output
