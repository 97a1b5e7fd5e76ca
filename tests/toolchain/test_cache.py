from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from toolchain import cache


def _tree(root: Path) -> Path:
    (root / "cmd").mkdir(parents=True)
    (root / "go.mod").write_text("module x\n")
    (root / "cmd" / "main.go").write_text("package main\n")
    return root


def test_hash_tree_changes_with_content_and_names(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src")
    first = cache.hash_tree(root)
    assert cache.hash_tree(root) == first
    (root / "cmd" / "main.go").write_text("package main // edited\n")
    edited = cache.hash_tree(root)
    assert edited != first
    (root / "cmd" / "main.go").rename(root / "cmd" / "other.go")
    assert cache.hash_tree(root) != edited


def test_hash_tree_ignores_build_outputs_and_vcs(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src")
    before = cache.hash_tree(root)
    (root / "bin").mkdir()
    (root / "bin" / "pulumi-language-python").write_bytes(b"\x7fELF")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: main\n")
    assert cache.hash_tree(root) == before


def test_publish_runs_once_and_marks_complete(tmp_path: Path) -> None:
    calls = []

    def produce(scratch: Path) -> None:
        calls.append(scratch)
        (scratch / "tool").write_text("built")

    entry = tmp_path / "entry"
    assert cache.publish(entry, produce) == entry
    assert cache.publish(entry, produce) == entry
    assert len(calls) == 1
    assert (entry / "tool").read_text() == "built"
    assert cache.is_complete(entry)


def test_publish_failure_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    def produce(scratch: Path) -> None:
        (scratch / "half").write_text("partial")
        raise RuntimeError("build broke")

    entry = tmp_path / "entry"
    with pytest.raises(RuntimeError, match="build broke"):
        cache.publish(entry, produce)
    assert not entry.exists()
    assert [p.name for p in tmp_path.iterdir()] == [".entry.lock"]


def test_scratch_of_a_killed_run_is_cleared(tmp_path: Path) -> None:
    stale = tmp_path / ".entry.tmp-999999"
    (stale / "half").mkdir(parents=True)
    cache.publish(tmp_path / "entry", lambda scratch: (scratch / "tool").write_text("built"))
    assert not stale.exists()
    assert (tmp_path / "entry" / "tool").is_file()


def test_concurrent_publish_waits_and_builds_once(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow(scratch: Path) -> None:
        calls.append("slow")
        started.set()
        release.wait(5)
        (scratch / "tool").write_text("built")

    entry = tmp_path / "entry"
    first = threading.Thread(target=cache.publish, args=(entry, slow))
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=cache.publish, args=(entry, lambda s: calls.append("again")))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # blocked on the lock while the first build runs
    release.set()
    first.join(5)
    second.join(5)
    assert calls == ["slow"]
    assert (entry / "tool").read_text() == "built"


def test_link_replaces_and_reports_changes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    link = tmp_path / "link"
    link.write_text("a stale regular file")
    assert cache.link(a, link) is True
    assert cache.link(a, link) is False
    assert cache.link(b, link) is True
    assert Path(os.readlink(link)) == b
    assert link.read_text() == "b"
