"""The venv step's stamp, the step runner and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from toolchain import python_env
from toolchain.context import Context
from toolchain.runner import Step, execute, report
from toolchain.system import BootstrapError

BOOTSTRAP = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap.py"


def test_stamp_follows_pyproject_and_constraints(repo: Path) -> None:
    (repo / "constraints.txt").write_text("pulumi==3.272.0\n")
    first = python_env.stamp_of(repo)
    (repo / "constraints.txt").write_text("pulumi==3.272.0\nmlflow==3.17.2\n")
    assert python_env.stamp_of(repo) != first


def test_missing_constraints_names_the_file(repo: Path) -> None:
    with pytest.raises(BootstrapError, match=r"constraints\.txt is missing"):
        python_env.stamp_of(repo)


def test_matching_stamp_skips_pip(ctx: Context) -> None:
    (ctx.repo / "constraints.txt").write_text("pulumi==3.272.0\n")
    with pytest.raises(BootstrapError, match="not installed from the current"):
        python_env.check(ctx)
    (ctx.venv / python_env.STAMP).write_text(python_env.stamp_of(ctx.repo) + "\n")
    # A python that fails at everything: the step must not start pip at all.
    (ctx.venv_bin / "python").write_text("#!/bin/sh\nexit 3\n")
    assert "up to date" in python_env.run(ctx)
    assert "matches" in python_env.check(ctx)


def _scripted(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "$0 $*" >> "$CALLS"\n{body}\n')
    path.chmod(0o755)


def _venv_with(ctx: Context, uv_exit: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Run the step with uv (exiting `uv_exit`) already in the cache and a venv python that records pip."""
    from toolchain import pins

    calls = tmp_path / "calls"
    monkeypatch.setenv("CALLS", str(calls))
    (ctx.repo / "constraints.txt").write_text("pulumi==3.272.0\n")
    _scripted(ctx.venv_bin / "python", "exit 0")
    _scripted(ctx.cache / "uv" / pins.UV_VERSION / "bin" / "uv", f"exit {uv_exit}")
    said = python_env.run(ctx)
    assert (ctx.venv / python_env.STAMP).read_text().strip() == python_env.stamp_of(ctx.repo)
    return [said, *calls.read_text().splitlines()]


def test_uv_installs_the_venv_from_the_lock(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    said, *calls = _venv_with(ctx, 0, monkeypatch, tmp_path)
    assert said.endswith("with uv")
    (call,) = calls
    assert call.endswith(f"uv pip install --python {ctx.venv_bin / 'python'} -c constraints.txt -e .[dev]")


def test_pip_installs_when_uv_fails(ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    said, *calls = _venv_with(ctx, 2, monkeypatch, tmp_path)
    assert said.endswith("with pip")
    assert len(calls) == 2 and "uv pip install" in calls[0]
    assert calls[1] == f"{ctx.venv_bin / 'python'} -m pip install -c constraints.txt -e .[dev]"


def test_constraints_pin_what_must_match_the_plugins() -> None:
    lock = (BOOTSTRAP.parents[1] / "constraints.txt").read_text().lower().replace("_", "-")
    assert "\npulumi==3.272.0\n" in lock
    assert "\npulumi-kubernetes==4.25.0a1768448096\n" in lock
    assert "mlops-platform" not in lock  # the project itself is installed editable, never pinned


def test_a_failing_step_does_not_hide_the_others(ctx: Context) -> None:
    def broken(_: Context) -> str:
        raise BootstrapError("engine is down", "start it")

    steps = [Step("a", "fails", broken, broken), Step("b", "works", lambda c: "fine", lambda c: "fine")]
    outcomes = execute(ctx, steps, check_only=False)
    assert [(o.step, o.ok) for o in outcomes] == [("a", False), ("b", True)]
    assert "fix: start it" in outcomes[0].detail
    assert report(outcomes) == 1
    assert report(outcomes[1:]) == 0


def test_cli_rejects_unknown_steps() -> None:
    proc = subprocess.run(
        [sys.executable, BOOTSTRAP, "--steps", "pulumi,kubectl"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "unknown step(s) kubectl: choose from python, pulumi, plugins, tools, docker, base-image" in proc.stdout
