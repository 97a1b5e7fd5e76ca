"""The tracking image's wrapper: the store URI from a file, the database password URL-quoted."""

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
