"""No downloaded archive is used unverified: its sha256 must match a pinned value or its publisher's list.

The pinned table (`pins.ARCHIVE_SHA256`) wins when it names the archive. Otherwise the publisher's own
checksums file for the release is fetched from the same origin over TLS (Pulumi publishes
`pulumi-VERSION-checksums.txt` beside its CLI archives). An archive with neither is not used: the caller
then builds from the Go module proxy, where every module is checked against Go's checksum database.
"""

from __future__ import annotations

import hashlib
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from toolchain import pins
from toolchain.system import FetchError, System


class ChecksumError(FetchError):
    """An archive that is not provably the release: no checksum to compare, or a different one."""


@dataclass(frozen=True)
class Download:
    url: str
    checksums_url: str | None = None
    """The publisher's sha256 list for the release, where it publishes one."""

    @property
    def name(self) -> str:
        """The archive's file name, as the pinned table and the publisher's list name it."""
        return Path(urllib.parse.urlsplit(self.url).path).name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def listed_sha256(text: str, name: str) -> str | None:
    """The digest `sha256sum`-style text gives for `name` (`HEX  NAME` or `HEX *NAME`), if it lists it."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == name and len(parts[0]) == 64:
            return parts[0].lower()
    return None


def expected_sha256(system: System, download: Download, timeout: float) -> tuple[str, str]:
    """(digest, where it came from), or ChecksumError when nothing vouches for the archive."""
    pinned = pins.ARCHIVE_SHA256.get(download.name)
    if pinned:
        return pinned.lower(), "the pinned checksum"
    if download.checksums_url is None:
        raise ChecksumError(
            f"{download.url}: no pinned checksum for {download.name} and its publisher lists none; not using it"
        )
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "checksums.txt"
        system.fetch(download.checksums_url, listing, timeout)
        digest = listed_sha256(listing.read_text(encoding="utf-8", errors="replace"), download.name)
    if digest is None:
        raise ChecksumError(f"{download.checksums_url} does not list {download.name}; not using the download")
    return digest, download.checksums_url


def fetch_verified(system: System, download: Download, dest: Path, timeout: float) -> None:
    """Download to `dest` only if its sha256 is the expected one; otherwise leave nothing and raise."""
    expected, source = expected_sha256(system, download, timeout)
    system.fetch(download.url, dest, timeout)
    actual = sha256_of(dest)
    if actual != expected:
        dest.unlink(missing_ok=True)
        raise ChecksumError(
            f"{download.url}: sha256 {actual}, but {source} says {expected}: "
            "a corrupted or substituted archive; not using it"
        )
