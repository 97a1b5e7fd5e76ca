"""The serving model reference as the stack files say it, before (a git ref) and after (the checkout).

Comparing the files catches a model change even where the preview cannot show it: a stack that was
never deployed has no old state to diff against.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from mlops.previews.records import ModelRefChange
from mlops.previews.steps import model_uri_from_config


class BaseRefError(RuntimeError):
    """The base revision cannot be read; the message says which and what to do."""


def model_uri_in_stack_file(text: str) -> str | None:
    settings = yaml.safe_load(text) or {}
    config = settings.get("config") or {}
    return model_uri_from_config(config) if isinstance(config, dict) else None


def base_stack_file(repo_root: Path, base_ref: str, relative_path: str) -> str | None:
    """The file's text at `base_ref`; None when the file did not exist there (a new stack)."""
    exists = subprocess.run(
        ["git", "-C", str(repo_root), "cat-file", "-e", f"{base_ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if exists.returncode != 0:
        raise BaseRefError(
            f"git cannot find the base revision '{base_ref}' in {repo_root}: fetch it first "
            "(in GitHub Actions, check out with `fetch-depth: 0`)."
        )
    shown = subprocess.run(
        ["git", "-C", str(repo_root), "show", f"{base_ref}:{relative_path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout if shown.returncode == 0 else None


def config_model_change(repo_root: Path, base_ref: str, stack_file: Path) -> ModelRefChange | None:
    """The change of `mlops:serving.modelUri` between `base_ref` and the working tree, if any."""
    relative = stack_file.resolve().relative_to(repo_root.resolve()).as_posix()
    base_text = base_stack_file(repo_root, base_ref, relative)
    old = model_uri_in_stack_file(base_text) if base_text is not None else None
    new = model_uri_in_stack_file(stack_file.read_text()) if stack_file.is_file() else None
    if old == new:
        return None
    return ModelRefChange(old=old, new=new, source=f"stack config ({relative})")
