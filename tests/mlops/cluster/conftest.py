"""Fixtures for the local cluster's tests: a Layout under a temporary directory, a fake command runner."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from mlops.cluster.layout import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(state_dir=tmp_path / "state", run_dir=tmp_path / "run", node_name="node-a")


class FakeRunner:
    """Records commands; `responses` maps a command prefix to (returncode, stdout)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.responses: list[tuple[list[str], Callable[[list[str]], tuple[int, str]]]] = []

    def on(self, prefix: list[str], answer: Callable[[list[str]], tuple[int, str]]) -> None:
        self.responses.insert(0, (prefix, answer))

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        for prefix, answer in self.responses:
            if argv[: len(prefix)] == prefix:
                code, out = answer(argv)
                return subprocess.CompletedProcess(argv, code, out, "")
        return subprocess.CompletedProcess(argv, 0, "", "")


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()
