#!/usr/bin/env python3
"""`mlflow server`, with its backend store URI read from a file instead of the command line.

The URI of a database carries its password, and whatever is in a container's environment or arguments is
shown by `docker inspect`, `kubectl describe` and `ps`. So the password arrives as a file (a docker secret
file or a mounted Kubernetes Secret) and this wrapper builds the URI in its own process:

- `MLOPS_BACKEND_STORE_URI_FILE`: a file holding the whole URI (an external database's URL), or
- `MLOPS_POSTGRES_PASSWORD_FILE` with `MLOPS_POSTGRES_HOST`, `_PORT`, `_USER`, `_DB` (not secret): the URI of
  the stack's own Postgres, the password URL-quoted (a rotated password may contain `@`, `/` or `:`).

Neither set: the arguments are passed on unchanged (`--backend-store-uri sqlite:...` needs no secret).
MLflow reads `MLFLOW_BACKEND_STORE_URI` and hands it to its workers the same way.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import quote


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise SystemExit(f"mlops-tracking-server: cannot read {path}: {exc.strerror}") from exc


def backend_store_uri(environ: dict[str, str]) -> str | None:
    if environ.get("MLOPS_BACKEND_STORE_URI_FILE"):
        return _read(environ["MLOPS_BACKEND_STORE_URI_FILE"])
    if environ.get("MLOPS_POSTGRES_PASSWORD_FILE"):
        password = quote(_read(environ["MLOPS_POSTGRES_PASSWORD_FILE"]), safe="")
        user = quote(environ.get("MLOPS_POSTGRES_USER", "mlflow"), safe="")
        host = environ.get("MLOPS_POSTGRES_HOST", "localhost")
        port = environ.get("MLOPS_POSTGRES_PORT", "5432")
        database = environ.get("MLOPS_POSTGRES_DB", "mlflow")
        # The driver is named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, and the image has psycopg2.
        return f"postgresql+psycopg2://{user}:{password}@{host}:{port}/{database}"
    return None


def main() -> None:
    uri = backend_store_uri(dict(os.environ))
    if uri is not None:
        os.environ["MLFLOW_BACKEND_STORE_URI"] = uri
    os.execvp("mlflow", ["mlflow", "server", *sys.argv[1:]])


if __name__ == "__main__":
    main()
