"""Where things are in the repository, computed once instead of `parents[N]` in every test module."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
STACKS = REPO / "stacks"
INFRA_MAIN = REPO / "infra" / "__main__.py"
VENV = REPO / ".venv"
BIN = Path(sys.executable).parent
"""The running interpreter's bin directory: the `mlops`, `mlflow` and `pulumi` of this venv."""
