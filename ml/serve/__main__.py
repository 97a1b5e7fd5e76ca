"""`python -m ml.serve`: the model server as the server image runs it, configured only by the env vars of
`contract.SERVER_ENV` (the operator's `mlops serve` adds command-line options and stack look-ups on top)."""

from __future__ import annotations

import sys

from ml.serve.loader import ModelLoadError
from ml.serve.runner import run_server
from ml.serve.settings import SettingsError
from ml.tracking_auth import configure_tracking_login


def main() -> int:
    try:
        configure_tracking_login()
        run_server()
    except (SettingsError, ModelLoadError, ValueError) as exc:
        print(f"model server: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
