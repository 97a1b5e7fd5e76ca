"""The tracking server's login inside a container: the user from `MLOPS_TRACKING_USERNAME`, the password from the
file `MLOPS_TRACKING_PASSWORD_FILE` names (a docker secret file or a mounted Kubernetes Secret, never an
environment variable, which `docker inspect` shows), handed to MLflow in this process only.

Called first thing by the entry points of the images (`python -m ml.serve`, `python -m ml.train`); with neither
variable set (a tracking server without basic auth, `local`) it does nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

from contract import TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV

MLFLOW_USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
MLFLOW_PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"


class TrackingLoginError(ValueError):
    """The login is configured but cannot be used; the message names the variable and the fix."""


def read_login(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(username, password) from the environment and the password file, or None when no login is configured."""
    username, path = environ.get(TRACKING_USERNAME_ENV, ""), environ.get(TRACKING_PASSWORD_FILE_ENV, "")
    if not username and not path:
        return None
    if not username or not path:
        missing = TRACKING_PASSWORD_FILE_ENV if username else TRACKING_USERNAME_ENV
        raise TrackingLoginError(f"{missing} is not set: set both tracking login variables, or neither")
    try:
        with open(path, encoding="utf-8") as handle:
            password = handle.read().strip()
    except OSError as exc:
        raise TrackingLoginError(
            f"cannot read the tracking password file {path} ({TRACKING_PASSWORD_FILE_ENV}): {exc.strerror}; "
            "mount the secret there or point the variable at it"
        ) from exc
    if not password:
        raise TrackingLoginError(f"the tracking password file {path} ({TRACKING_PASSWORD_FILE_ENV}) is empty")
    return username, password


def configure_tracking_login(environ: MutableMapping[str, str] | None = None) -> bool:
    """Give MLflow in this process the configured login; True when one was configured."""
    target = os.environ if environ is None else environ
    login = read_login(target)
    if login is None:
        return False
    target[MLFLOW_USERNAME_ENV], target[MLFLOW_PASSWORD_ENV] = login
    return True
