"""The tracking server's login, handed to a job: a file, never an environment variable or an argument.

A stack whose tracking server runs basic auth exports its login (`mlops.stacks.Environment.tracking_login`).
docker: `mlops` writes the password to a file of its own (a private directory, removed with the job's
files) that the container gets read-only under SECRETS_DIR, with the variables `ml.tracking_auth` reads.
kubernetes: the training namespace holds the login as a Secret that the Job mounts (`kubernetes_manifests`);
a stack output without it is refused before anything starts, since the job could not log its run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV
from ml.jobs.request import SECRETS_DIR
from ml.jobs.spec import JobSpecError, TrainingJobSpec


def login_for_job(
    login: tuple[str, str] | None, spec: TrainingJobSpec, private_dir: Path
) -> tuple[dict[str, str], dict[str, Path]]:
    """`(env, secret_files)` of the job's request; raises JobSpecError when the stack cannot hand it the login."""
    if login is None:
        return {}, {}
    if spec.kubernetes is not None:
        if spec.kubernetes.tracking_login is None:
            raise JobSpecError(
                f"the tracking server of '{spec.environment}' requires a login, but its `training` output names "
                f"no Secret holding it: run `mlops env up {spec.environment}` to refresh its outputs"
            )
        return {}, {}
    username, password = login
    private_dir.chmod(0o700)
    path = private_dir / TRACKING_PASSWORD_FILE
    path.write_text(password)
    # Readable by the container's user through the bind mount; nobody else on this machine reaches the
    # private directory.
    path.chmod(0o444)
    env: Mapping[str, str] = {
        TRACKING_USERNAME_ENV: username,
        TRACKING_PASSWORD_FILE_ENV: f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}",
    }
    return dict(env), {TRACKING_PASSWORD_FILE: path}
