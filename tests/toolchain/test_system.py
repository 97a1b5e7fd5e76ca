"""The System seam: failures come back as errors that say what happened and where to look."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolchain.system import BootstrapError, FetchError, System


def test_failed_command_shows_its_output(tmp_path: Path) -> None:
    with pytest.raises(BootstrapError, match=r"exit 3\):\nboom") as info:
        System().run(["sh", "-c", "echo boom; exit 3"])
    assert "re-running the bootstrap" in info.value.fix


def test_slow_logged_command_is_stopped_with_a_clear_error(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with pytest.raises(BootstrapError, match="did not finish within 0s") as info:
        System().run_logged(["sleep", "5"], log, timeout=0.2)
    assert "cached" in info.value.fix
    assert log.read_text().startswith("$ sleep 5")


def test_failed_logged_command_quotes_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with pytest.raises(BootstrapError, match=r"compile error in x\.go"):
        System().run_logged(["sh", "-c", "echo 'compile error in x.go' >&2; exit 1"], log)


def test_which_skips_excluded_directories(tmp_path: Path) -> None:
    for directory in ("a", "b"):
        exe = tmp_path / directory / "tool"
        exe.parent.mkdir()
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    system = System(path=f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert system.which("tool") == tmp_path / "a" / "tool"
    assert system.which("tool", exclude=[tmp_path / "a"]) == tmp_path / "b" / "tool"
    assert system.which("absent") is None


def test_fetch_failure_leaves_no_partial_file(tmp_path: Path, unreachable_url: str) -> None:
    dest = tmp_path / "x.tar.gz"
    with pytest.raises(FetchError, match=r"127\.0\.0\.1"):
        System().fetch(unreachable_url, dest, timeout=2)
    assert list(tmp_path.iterdir()) == []
