"""Version parsing: semantic versions as Pulumi prints them, and PEP 440 pins as PyPI has them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEMVER = re.compile(
    r"v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.\-]+))?(?:\+(?P<build>[0-9A-Za-z.\-]+))?"
)
_PEP440 = re.compile(r"(?P<release>\d+\.\d+\.\d+)(?:(?P<kind>a|b|rc)(?P<pre>\d+))?(?:\.dev(?P<dev>\d+))?")
_PRE_NAMES = {"a": "alpha", "b": "beta", "rc": "rc"}


class VersionError(ValueError):
    """A version string that cannot be parsed."""


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `v3.274.1`, `3.274.1-alpha.5+dirty` or a `pulumi version` output line."""
        match = _SEMVER.fullmatch(text.strip())
        if not match:
            raise VersionError(f"not a semantic version: {text!r} (expected e.g. v3.274.1)")
        pre = tuple(match.group("pre").split(".")) if match.group("pre") else ()
        return cls(int(match["major"]), int(match["minor"]), int(match["patch"]), pre)

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # Semver precedence: a release outranks its pre-releases; numeric identifiers compare as
        # numbers and rank below alphanumeric ones.
        ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, ids)

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Version) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Version) -> bool:
        return self._key() >= other._key()

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{'.'.join(self.pre)}" if self.pre else core


def parse_cli_version(output: str) -> Version:
    """The version from `pulumi version` output; tolerate warnings printed around it."""
    for line in reversed(output.strip().splitlines()):
        try:
            return Version.parse(line)
        except VersionError:
            continue
    raise VersionError(f"no version in `pulumi version` output: {output.strip()[:200]!r}")


def pep440_to_semver(version: str) -> str:
    """Map a PyPI release to the semver of the plugin built from the same commit.

    `4.25.0a1768448096` -> `4.25.0-alpha.1768448096`, `3.1.0rc2` -> `3.1.0-rc.2`,
    `1.2.3.dev4` -> `1.2.3-dev.4`: that is how Pulumi's providers version their pre-releases.
    """
    match = _PEP440.fullmatch(version.strip())
    if not match:
        raise VersionError(f"unsupported Python package version {version!r} (expected X.Y.Z[aN|bN|rcN])")
    parts: list[str] = []
    if match["kind"]:
        parts.append(f"{_PRE_NAMES[match['kind']]}.{match['pre']}")
    if match["dev"]:
        parts.append(f"dev.{match['dev']}")
    return match["release"] + ("-" + ".".join(parts) if parts else "")
