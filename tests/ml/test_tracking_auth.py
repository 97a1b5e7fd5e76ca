"""The containers' side of the tracking login: the user from the environment, the password from the file it
names, handed to MLflow in the process; nothing configured means nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV
from ml.tracking_auth import TrackingLoginError, configure_tracking_login


def test_the_password_file_becomes_mlflows_login(tmp_path: Path) -> None:
    secret = tmp_path / "tracking-password"
    secret.write_text("s3cret%pass\n")
    environ = {TRACKING_USERNAME_ENV: "mlops", TRACKING_PASSWORD_FILE_ENV: str(secret)}
    assert configure_tracking_login(environ) is True
    assert environ["MLFLOW_TRACKING_USERNAME"] == "mlops"
    assert environ["MLFLOW_TRACKING_PASSWORD"] == "s3cret%pass"


def test_nothing_configured_changes_nothing() -> None:
    environ: dict[str, str] = {}
    assert configure_tracking_login(environ) is False
    assert environ == {}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({TRACKING_USERNAME_ENV: "mlops"}, TRACKING_PASSWORD_FILE_ENV + " is not set"),
        ({TRACKING_PASSWORD_FILE_ENV: "/x"}, TRACKING_USERNAME_ENV + " is not set"),
        ({TRACKING_USERNAME_ENV: "mlops", TRACKING_PASSWORD_FILE_ENV: "/absent/file"}, "cannot read .*/absent/file"),
    ],
)
def test_a_half_configured_or_unreadable_login_is_an_error_naming_it(environ: dict[str, str], message: str) -> None:
    with pytest.raises(TrackingLoginError, match=message):
        configure_tracking_login(dict(environ))


def test_an_empty_password_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p").write_text("\n")
    with pytest.raises(TrackingLoginError, match="is empty"):
        configure_tracking_login({TRACKING_USERNAME_ENV: "mlops", TRACKING_PASSWORD_FILE_ENV: str(tmp_path / "p")})
