"""The doors between the rooms (docs/architecture.md), checked on every default test run.

- import-linter's contracts in pyproject.toml pass, and a deliberately forbidden import breaks them;
- `contract` loads with the standard library alone;
- no import cycle among the project's modules;
- no module of the shipped packages (and the bootstrap) is over MAX_LINES, except those listed with a reason.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import BIN, REPO

PACKAGES = ("contract", "infra", "ml", "mlops")
LINT_IMPORTS = str(BIN / "lint-imports")
MAX_LINES = 300
SIZE_CHECKED = (*PACKAGES, "scripts")
"""Tests and benchmarks are left out: long parametrised tables and standalone tools, not rooms of the product."""
OVER_THE_LIMIT: dict[str, str] = {}
"""path -> why it may be longer; empty: every module of the shipped packages fits."""


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env={"PATH": str(BIN), "PYTHONPATH": str(cwd), "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_import_contracts_are_kept() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"
    assert "0 broken" in result.stdout


def test_a_forbidden_import_breaks_the_ml_contract(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    victim = tmp_path / "ml" / "spec.py"
    victim.write_text(victim.read_text() + "\nimport mlops  # noqa: E402,F401  (the forbidden door)\n")

    result = _lint_imports(tmp_path)

    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert "ml runs inside images" in broken and "ml.spec -> mlops" in broken, result.stdout
    assert "infra is the Pulumi program" not in broken


def test_contract_loads_with_the_standard_library_alone() -> None:
    # -I -S: no site-packages and no user paths, so any third-party import fails here.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules); import contract; "
        "loaded = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(loaded - set(sys.stdlib_module_names) - {'contract'}))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(REPO)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"contract pulled in non-stdlib modules: {result.stdout}"


def test_contract_imports_no_module_of_ours() -> None:
    tree = ast.parse((REPO / "contract" / "__init__.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name.split(".")[0] for name in imported} & set(PACKAGES) - {"contract"}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_among_the_projects_modules() -> None:
    import grimp

    # Runtime imports: an annotation-only import under TYPE_CHECKING cannot fail at import time.
    graph = grimp.build_graph(*PACKAGES, "toolchain", cache_dir=None, exclude_type_checking_imports=True)
    edges = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    cycles = _cycles(edges)
    assert cycles == [], "import cycles (each line one set of modules importing each other):\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def test_cycle_finder_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_over_the_line_limit_without_a_reason() -> None:
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text().splitlines())
        for room in SIZE_CHECKED
        for path in (REPO / room).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    over = {path: lines for path, lines in sizes.items() if lines > MAX_LINES and path not in OVER_THE_LIMIT}
    assert over == {}, f"over {MAX_LINES} lines: {over}; split them or list them in OVER_THE_LIMIT with the reason"
    stale = {path for path in OVER_THE_LIMIT if sizes.get(path, 0) <= MAX_LINES}
    assert not stale, f"no longer over the limit, drop from OVER_THE_LIMIT: {stale}"


@pytest.mark.parametrize("suite", ["infra"])
def test_infra_tests_never_import_ml(suite: str) -> None:
    """The infra suites and the support modules they use stay on their side of the door, as infra does."""
    seen: set[Path] = set()
    todo = list((REPO / "tests" / suite).rglob("*.py"))
    offenders = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name == "ml" or name.startswith("ml."):
                    offenders.append(f"{path.relative_to(REPO)}: {name}")
                if name.startswith("tests.support."):
                    todo.append(REPO / (name.replace(".", "/") + ".py"))
    assert offenders == []
