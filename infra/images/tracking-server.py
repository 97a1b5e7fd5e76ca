#!/usr/bin/env python3
"""`mlflow server`, with its secrets read from files instead of the command line or the environment.

The URI of a database carries its password, and whatever is in a container's environment or arguments is
shown by `docker inspect`, `kubectl describe` and `ps`. So the password arrives as a file (a docker secret
file or a mounted Kubernetes Secret) and this wrapper builds the URI in its own process:

- `MLOPS_BACKEND_STORE_URI_FILE`: a file holding the whole URI (an external database's URL), or
- `MLOPS_POSTGRES_PASSWORD_FILE` with `MLOPS_POSTGRES_HOST`, `_PORT`, `_USER`, `_DB` (not secret): the URI of
  the stack's own Postgres, the password URL-quoted (a rotated password may contain `@`, `/` or `:`).

Neither set: the arguments are passed on unchanged (`--backend-store-uri sqlite:...` needs no secret).
MLflow reads `MLFLOW_BACKEND_STORE_URI` and hands it to its workers the same way.

With `--app-name basic-auth` (MLflow's built-in authentication), the admin user is `MLOPS_TRACKING_USERNAME`
and its password the file `MLOPS_TRACKING_PASSWORD_FILE`. The wrapper writes MLflow's `basic_auth.ini` into
a private directory (`MLOPS_AUTH_CONFIG_DIR`, a tmpfs; mode 0600) and points `MLFLOW_AUTH_CONFIG_PATH` at it.
The users live in the persistent store: `basic_auth.db` beside a SQLite store, or the stack's Postgres
(MLflow keeps the auth tables' migrations apart, in `alembic_version_auth`). Every authenticated user may
read; only the admin (and whom it grants) may write; an unauthenticated request gets 401. The password in
the file is the admin's password from then on: a changed file (a rotated secret) replaces the stored one.

On Postgres, several replicas start at once. Each `mlflow server` creates the schema of an empty database, so
two of them race (`duplicate key ... pg_type`) and one crashes. The wrapper therefore creates or upgrades both
schemas first, under a Postgres advisory lock: the first replica migrates while the others wait, then each
finds the schema at head and starts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import tempfile
import time
from typing import Any
from urllib.parse import quote

AUTH_APP = "basic-auth"
AUTH_DB_FILE = "basic_auth.db"


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


def _option(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def auth_database_uri(store_uri: str) -> str:
    """Where the users live: a SQLite file beside a SQLite store, else the store's own database."""
    prefix = "sqlite:///"
    if store_uri.startswith(prefix):
        return prefix + os.path.join(os.path.dirname(store_uri[len(prefix) :]), AUTH_DB_FILE)
    return store_uri


def auth_config(username: str, password: str, database_uri: str) -> str:
    """MLflow's `basic_auth.ini`: authenticated users read, the admin writes, nobody else gets in."""
    if "\n" in username or "\n" in password or not username or not password:
        raise SystemExit("mlops-tracking-server: the admin username and password must be one non-empty line each")
    return (
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {database_uri}\n"
        f"admin_username = {username}\n"
        f"admin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
    ).replace("%", "%%")


def write_private(directory: str, name: str, content: str) -> str:
    """`content` in a new directory of its own under `directory`, readable by this user only."""
    os.makedirs(directory, exist_ok=True)
    private = tempfile.mkdtemp(prefix="mlops-auth-", dir=directory)
    path = os.path.join(private, name)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)
    return path


def secret_key(password: str) -> str:
    """The Flask secret (CSRF of the sign-up form): the same in every worker and replica, never stored."""
    return hmac.new(password.encode(), b"mlops-tracking-flask-secret", hashlib.sha256).hexdigest()


def sync_admin_password(database_uri: str, username: str, password: str) -> None:
    """Make the stored admin password the one in the file (MLflow sets it only when it creates the user)."""
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(database_uri)
    if store.has_user(username) and not store.authenticate_user(username, password):
        store.update_user(username, password=password, is_admin=True)
        print(f"mlops-tracking-server: the password of {username} was changed to the configured one", file=sys.stderr)


MIGRATION_LOCK = 0x6D6C6F7073
"""The advisory lock key every replica takes while it creates or upgrades the schemas (b"mlops")."""
CONNECT_WAIT_S = 120.0


def _connect_with_retry(engine: Any, wait_s: float) -> Any:
    """A connection to a database that may still be starting (a StatefulSet's first minute)."""
    import sqlalchemy

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return engine.connect()
        except sqlalchemy.exc.OperationalError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"mlops-tracking-server: the database did not accept a connection within {wait_s:.0f} s: "
                    f"{str(exc.orig).strip()}"
                ) from exc
            time.sleep(2)


def migrate_schemas(store_uri: str, auth_database: str | None, wait_s: float = CONNECT_WAIT_S) -> None:
    """Create or upgrade MLflow's tracking schema (and the auth schema) on Postgres, one replica at a time."""
    import sqlalchemy
    from mlflow.store.db import utils

    engine = sqlalchemy.create_engine(store_uri, poolclass=sqlalchemy.pool.NullPool)
    with _connect_with_retry(engine, wait_s) as lock:
        lock.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            if utils._all_tables_exist(engine):
                utils._upgrade_db(engine)
            else:
                utils._initialize_tables(engine)
            if auth_database:
                from mlflow.server.auth.db import utils as auth_utils

                auth_utils.migrate_if_needed(sqlalchemy.create_engine(auth_database), "head")
        finally:
            lock.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    engine.dispose()


def configure_auth(environ: dict[str, str], args: list[str], store_uri: str | None) -> tuple[dict[str, str], str]:
    """The environment `mlflow server --app-name basic-auth` needs, and the users' database; every missing
    setting is named."""
    missing = [name for name in ("MLOPS_TRACKING_USERNAME", "MLOPS_TRACKING_PASSWORD_FILE") if not environ.get(name)]
    if missing:
        raise SystemExit(
            f"mlops-tracking-server: --app-name {AUTH_APP} needs {' and '.join(missing)} (the admin user and the "
            "file holding its password)"
        )
    username = environ["MLOPS_TRACKING_USERNAME"]
    password = _read(environ["MLOPS_TRACKING_PASSWORD_FILE"])
    store = store_uri or _option(args, "--backend-store-uri")
    if not store:
        raise SystemExit(f"mlops-tracking-server: --app-name {AUTH_APP} needs a database store for its users")
    database = auth_database_uri(store)
    directory = environ.get("MLOPS_AUTH_CONFIG_DIR") or tempfile.gettempdir()
    path = write_private(directory, "basic_auth.ini", auth_config(username, password, database))
    return {"MLFLOW_AUTH_CONFIG_PATH": path, "MLFLOW_FLASK_SERVER_SECRET_KEY": secret_key(password)}, database


def main() -> None:
    args = sys.argv[1:]
    environ = dict(os.environ)
    uri = backend_store_uri(environ)
    if uri is not None:
        os.environ["MLFLOW_BACKEND_STORE_URI"] = uri
    auth = _option(args, "--app-name") == AUTH_APP
    store = uri or _option(args, "--backend-store-uri") or ""
    if store.startswith("postgresql"):
        migrate_schemas(store, auth_database_uri(store) if auth else None)
    if auth:
        settings, database = configure_auth(environ, args, uri)
        os.environ.update(settings)
        password = _read(environ["MLOPS_TRACKING_PASSWORD_FILE"])
        sync_admin_password(database, environ["MLOPS_TRACKING_USERNAME"], password)
    os.execvp("mlflow", ["mlflow", "server", *args])


if __name__ == "__main__":
    main()
