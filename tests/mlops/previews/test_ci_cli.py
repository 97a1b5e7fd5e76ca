"""`mlops ci preview-comment` as the workflow calls it: captured previews in, one Markdown comment out."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.previews.comment import MARKER

HAND = Path(__file__).parent / "fixtures" / "hand"
runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["ci", "preview-comment", *args])
    return result.exit_code, result.stdout, result.stderr


def test_print_marker_prints_the_first_line_of_every_comment(tmp_path: Path) -> None:
    code, out, _ = _invoke("--print-marker")
    assert code == 0 and out.strip() == MARKER
    code, _, _ = _invoke("--from-json", f"dev={HAND / 'dev-digest.json'}", "-o", str(tmp_path / "c.md"))
    assert code == 0
    assert (tmp_path / "c.md").read_text().splitlines()[0] == MARKER


def test_captured_previews_make_one_comment_with_a_row_per_stack(tmp_path: Path) -> None:
    out_file = tmp_path / "comment.md"
    code, _, err = _invoke(
        "--from-json",
        f"dev={HAND / 'dev-digest.json'}",
        "--from-json",
        f"prod={HAND / 'prod-events.jsonl'}",
        "--commit",
        "0123456789abcdef",
        "--output",
        str(out_file),
    )
    assert code == 0, err
    body = out_file.read_text()
    assert "| `dev` | ⚠️ replaces | 1 | 1 | 2 | 1 | 2 | not reported |" in body
    assert "| `prod` | ❌ failed | 0 | 1 | 1 | 0 | 9 | 1 advisory, 1 mandatory |" in body
    assert "At commit `0123456789ab`." in body
    assert "`models:/breast-cancer/3` → `models:/breast-cancer/4`" in body
    assert "Preview failed for: prod." in err


def test_fail_on_error_exits_1_after_writing_the_comment(tmp_path: Path) -> None:
    out_file = tmp_path / "comment.md"
    code, _, _ = _invoke("--from-json", f"prod={HAND / 'prod-events.jsonl'}", "-o", str(out_file), "--fail-on-error")
    assert code == 1
    assert out_file.read_text().startswith(MARKER)


def test_a_missing_preview_and_a_failed_exit_code_are_reported_not_fatal() -> None:
    code, out, _ = _invoke(
        "--from-json",
        "staging=/nonexistent/staging.json",
        "--from-json",
        f"dev={HAND / 'dev-digest.json'}",
        "--exit-code",
        "dev=2",
    )
    assert code == 0
    assert "no preview file at /nonexistent/staging.json" in out
    assert "The preview exited with code 2" in out
    assert "| `staging` | ❌ failed | - | - | - | - | - | - |" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name stacks to preview with --stack"),
        (("--from-json", "dev"), "is not STACK=VALUE"),
        (("--from-json", "dev=a.json", "--stack", "dev"), "given both with --stack and --from-json"),
        (("--from-json", "dev=a.json", "--exit-code", "dev=x"), "exit codes must be integers"),
    ],
)
def test_bad_arguments_say_what_to_pass(args: tuple[str, ...], message: str) -> None:
    code, out, err = _invoke(*args)
    assert code == 2
    assert message in " ".join((out + err).split())


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_base_ref_finds_a_model_change_in_the_stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops import stacks as environments

    (tmp_path / "Pulumi.yaml").write_text("name: mlops-platform\nruntime: python\nstackConfigDir: stacks\n")
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    stack_file = stacks / "Pulumi.dev.yaml"
    stack_file.write_text("config:\n  mlops:serving:\n    modelUri: models:/breast-cancer/2\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "base")
    stack_file.write_text("config:\n  mlops:serving:\n    modelUri: models:/breast-cancer/5\n")

    monkeypatch.setenv("MLOPS_PROJECT_DIR", str(tmp_path))
    environments.project.cache_clear()
    try:
        preview = tmp_path / "dev.json"
        preview.write_text('{"steps": [], "changeSummary": {"same": 3}}')
        code, out, err = _invoke("--from-json", f"dev={preview}", "--base-ref", "HEAD", "--tracking-uri", "")
        assert code == 0, err
        assert "**Model change** in stack config (stacks/Pulumi.dev.yaml)" in out
        assert "`models:/breast-cancer/2` → `models:/breast-cancer/5`" in out
        code, out, err = _invoke("--from-json", f"dev={preview}", "--base-ref", "no-such-ref")
        assert code == 1
        assert "git cannot find the base revision 'no-such-ref'" in out + err
    finally:
        environments.project.cache_clear()
