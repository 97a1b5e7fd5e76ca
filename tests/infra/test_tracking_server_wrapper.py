"""The tracking image's wrapper: the store URI from a file, the database password URL-quoted, and MLflow's basic-auth
config written privately from the admin password file (its rotation is checked on the image, in
test_tracking_auth_docker)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO

WRAPPER = REPO / "infra" / "images" / "tracking-server.py"


@pytest.fixture(scope="module")
def wrapper() -> dict[str, Any]:
    return runpy.run_path(str(WRAPPER))


def test_the_password_file_is_url_quoted_into_the_uri(wrapper: dict[str, Any], tmp_path: Path) -> None:
    secret = tmp_path / "postgres-password"
    secret.write_text("p@ss/w:rd %\n")
    env = {
        "MLOPS_POSTGRES_PASSWORD_FILE": str(secret),
        "MLOPS_POSTGRES_HOST": "mlops-x-postgres",
        "MLOPS_POSTGRES_PORT": "5432",
        "MLOPS_POSTGRES_USER": "mlflow",
        "MLOPS_POSTGRES_DB": "mlflow",
    }
    uri = wrapper["backend_store_uri"](env)
    assert uri == "postgresql+psycopg2://mlflow:p%40ss%2Fw%3Ard%20%25@mlops-x-postgres:5432/mlflow"


def test_a_uri_file_is_taken_whole_and_nothing_set_means_no_uri(wrapper: dict[str, Any], tmp_path: Path) -> None:
    secret = tmp_path / "backend-store-uri"
    secret.write_text("postgresql://u:already%2Fquoted@db.example:5432/mlflow\n")
    assert wrapper["backend_store_uri"]({"MLOPS_BACKEND_STORE_URI_FILE": str(secret)}) == (
        "postgresql://u:already%2Fquoted@db.example:5432/mlflow"
    )
    assert wrapper["backend_store_uri"]({}) is None


def test_a_missing_file_is_one_line_naming_it(wrapper: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"cannot read .*/absent"):
        wrapper["backend_store_uri"]({"MLOPS_POSTGRES_PASSWORD_FILE": str(tmp_path / "absent")})


def test_basic_auth_keeps_users_beside_a_sqlite_store_or_in_the_stack_database(wrapper: dict[str, Any]) -> None:
    assert wrapper["auth_database_uri"]("sqlite:////data/mlflow.db") == "sqlite:////data/basic_auth.db"
    postgres = "postgresql+psycopg2://mlflow:p%40ss@db:5432/mlflow"
    assert wrapper["auth_database_uri"](postgres) == postgres


def test_basic_auth_config_is_private_and_survives_percent_signs(wrapper: dict[str, Any], tmp_path: Path) -> None:
    import configparser
    import stat

    password = tmp_path / "tracking-password"
    password.write_text("pa%ss@word\n")
    env = {
        "MLOPS_TRACKING_USERNAME": "mlops",
        "MLOPS_TRACKING_PASSWORD_FILE": str(password),
        "MLOPS_AUTH_CONFIG_DIR": str(tmp_path / "auth"),
    }
    settings, database = wrapper["configure_auth"](env, ["--backend-store-uri", "sqlite:////data/mlflow.db"], None)
    assert database == "sqlite:////data/basic_auth.db"
    path = Path(settings["MLFLOW_AUTH_CONFIG_PATH"])
    assert path.parent.parent == tmp_path / "auth"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    parsed = configparser.ConfigParser()
    parsed.read(path)
    assert parsed["mlflow"]["admin_username"] == "mlops"
    assert parsed["mlflow"]["admin_password"] == "pa%ss@word"
    assert parsed["mlflow"]["database_uri"] == database
    assert parsed["mlflow"]["default_permission"] == "READ"
    # The Flask secret is derived from the password: the same in every worker and replica, not the password.
    assert settings["MLFLOW_FLASK_SERVER_SECRET_KEY"] == wrapper["secret_key"]("pa%ss@word") != "pa%ss@word"


def test_basic_auth_without_its_settings_names_them(wrapper: dict[str, Any]) -> None:
    with pytest.raises(SystemExit, match="MLOPS_TRACKING_USERNAME and MLOPS_TRACKING_PASSWORD_FILE"):
        wrapper["configure_auth"]({}, ["--backend-store-uri", "sqlite:////data/mlflow.db"], None)
