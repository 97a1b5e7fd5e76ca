"""`mlops` with one environment read from a JSON file (`MLOPS_TEST_ENVIRONMENT`) instead of a Pulumi stack.

The job tests need no stack: they start the pieces a docker stack would have (network, tracking server,
trainer image) and describe them as that stack's outputs would. Everything else is the real CLI.
Run as `python -m tests.mlops.jobs.env_cli train --env NAME ...`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlops import stacks

ENV_FILE = "MLOPS_TEST_ENVIRONMENT"


def _described() -> dict[str, Any]:
    return json.loads(Path(os.environ[ENV_FILE]).read_text())


def _resolve(name: str) -> stacks.Environment:
    data = _described()
    login = data.get("tracking_login")
    return stacks.Environment(
        name=name, outputs=data["outputs"], config=data["config"], tracking_login=tuple(login) if login else None
    )


def _stack_config(_name: str) -> dict[str, Any]:
    return dict(_described()["config"])


if __name__ == "__main__":
    stacks.resolve = _resolve
    stacks.stack_config = _stack_config
    from mlops.cli import main

    main()
