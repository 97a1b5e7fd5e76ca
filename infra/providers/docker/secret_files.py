"""Secrets of a container as files: mode 0400, owned by the container's user, in a directory bound at
`SECRETS_MOUNT`, never an environment variable or an argument (which `docker inspect` and `ps` show)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SECRETS_MOUNT = "/run/mlops-secrets"


def secrets_dir(name: str) -> Path:
    """The host directory bound at `SECRETS_MOUNT`: under the user's data dir (0700), itself 0711 so the
    container's user can open the files it is given by name, and list nothing."""
    from contract import data_dir

    parent = data_dir() / "secrets"
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o700)
    directory = parent / name
    directory.mkdir(exist_ok=True)
    directory.chmod(0o711)
    return directory


def user_ids(container: Any, user: str) -> tuple[int, int]:
    """Numeric uid and gid of `user` ("10001:10001", "postgres") in the container's image."""
    import io
    import tarfile

    name, _, group = user.partition(":")
    if not name:
        return 0, 0
    if name.isdigit():
        return int(name), int(group) if group.isdigit() else int(name)
    stream, _ = container.get_archive("/etc/passwd")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.extractfile("passwd")
        lines = member.read().decode().splitlines() if member else []
    for line in lines:
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise RuntimeError(f"user {name!r} does not exist in image {container.image}")


def put_secrets(container: Any, user: str, files: Mapping[str, str]) -> None:
    """Write each secret into the created (not yet started) container's secrets directory through the
    engine, which owns them to the container's user with mode 0400 (the provider may not be root)."""
    import io
    import tarfile

    uid, gid = user_ids(container, user)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for file_name, content in sorted(files.items()):
            data = content.encode()
            info = tarfile.TarInfo(file_name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o400, uid, gid, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    if not container.put_archive(SECRETS_MOUNT, buffer.getvalue()):
        raise RuntimeError(f"could not write the secret files of {container.name}")
