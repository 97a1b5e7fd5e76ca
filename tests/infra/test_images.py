"""Image tags hash exactly what goes into each image: docs and operator code never roll anything out."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import images
from tests.support.paths import REPO

# What the tags of every stack's images can depend on, and nothing else of the checkout.
COPIED = ("contract", "ml", "infra/images", "pyproject.toml", "constraints.txt", "README.md", "mlops", "stacks")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")


def printed_tags(root: Path | None = None) -> dict[str, str]:
    """What `python -m infra.images` prints, for this checkout or for the copy at `root`."""
    command = [sys.executable, "-m", "infra.images", *(["--root", str(root)] if root else [])]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    tags = json.loads(result.stdout)
    assert isinstance(tags, dict)
    return tags


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in COPIED:
        source = REPO / rel
        if source.is_dir():
            shutil.copytree(source, root / rel, ignore=IGNORED)
        elif source.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / rel)
    return root


def append(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(f"\n{line}\n")


def test_prints_every_role_and_its_content_tag() -> None:
    tags = printed_tags()
    assert {"deps", "registry", "balancer", "tracking", "server", "trainer"} <= tags.keys()
    assert all(len(tag) == 20 and int(tag, 16) >= 0 for tag in tags.values()), tags
    assert tags == {
        role: spec.tag for role, spec in images.stack_specs("mlops-local", "mlops-base:bookworm-py311").items()
    }


def test_a_copy_of_the_checkout_has_the_same_tags(copy: Path) -> None:
    assert printed_tags(copy) == printed_tags()


def test_docs_and_operator_changes_leave_runtime_tags_alone(copy: Path) -> None:
    before = printed_tags(copy)
    append(copy / "README.md", "A documentation change.")
    operator_file = next(path for path in sorted((copy / "mlops").rglob("*.py")))
    append(operator_file, "# an operator tooling change")
    after = printed_tags(copy)
    assert after["server"] == before["server"] and after["trainer"] == before["trainer"]
    assert after == before


def test_a_change_to_the_model_server_changes_the_server_tag(copy: Path) -> None:
    before = printed_tags(copy)
    append(next(iter(sorted((copy / "ml" / "serve").glob("*.py")))), "# a model server change")
    after = printed_tags(copy)
    assert after["server"] != before["server"]
    assert after["deps"] == before["deps"] and after["tracking"] == before["tracking"]


def test_tags_follow_the_repository_root_when_it_is_patched(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "REPO_ROOT", copy)
    append(copy / "ml" / "serve" / "__init__.py", "# changed in the copy only")
    patched = {role: spec.tag for role, spec in images.stack_specs("mlops-local", "mlops-base:bookworm-py311").items()}
    assert patched["server"] != printed_tags()["server"]
