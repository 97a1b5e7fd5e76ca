from __future__ import annotations

import pytest

from toolchain.versions import Version, VersionError, parse_cli_version, pep440_to_semver


def test_parse_accepts_a_leading_v_and_prerelease() -> None:
    assert Version.parse("v3.274.1") == Version(3, 274, 1)
    assert Version.parse("4.25.0-alpha.1768448096+dirty") == Version(4, 25, 0, ("alpha", "1768448096"))


@pytest.mark.parametrize("text", ["", "3.274", "latest", "v3.274.1.2", "03.1.1"])
def test_parse_rejects_what_is_not_semver(text: str) -> None:
    with pytest.raises(VersionError, match="not a semantic version"):
        Version.parse(text)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("3.272.0", "3.274.1"),
        ("3.274.1", "3.274.10"),  # numeric, not lexical
        ("3.274.1", "4.0.0"),
        ("4.25.0-alpha.1768448096", "4.25.0"),  # a release outranks its pre-releases
        ("4.25.0-alpha.9", "4.25.0-alpha.10"),
        ("4.25.0-alpha.10", "4.25.0-beta.1"),
        ("1.0.0-1", "1.0.0-alpha"),  # numeric identifiers rank below alphanumeric ones
    ],
)
def test_ordering_follows_semver_precedence(lower: str, higher: str) -> None:
    assert Version.parse(lower) < Version.parse(higher)
    assert Version.parse(higher) > Version.parse(lower)
    assert Version.parse(higher) >= Version.parse(higher)


def test_str_round_trips_without_the_v() -> None:
    assert str(Version.parse("v4.25.0-alpha.1768448096")) == "4.25.0-alpha.1768448096"


def test_cli_version_found_among_warnings() -> None:
    output = "warning: A new version of Pulumi is available.\nv3.274.1\n"
    assert parse_cli_version(output) == Version(3, 274, 1)


def test_cli_version_missing_is_a_clear_error() -> None:
    with pytest.raises(VersionError, match="no version in `pulumi version` output"):
        parse_cli_version("error: something broke\n")


@pytest.mark.parametrize(
    ("pep440", "semver"),
    [
        ("4.25.0a1768448096", "4.25.0-alpha.1768448096"),
        ("4.18.0b2", "4.18.0-beta.2"),
        ("3.1.0rc2", "3.1.0-rc.2"),
        ("1.2.3.dev4", "1.2.3-dev.4"),
        ("4.34.2", "4.34.2"),
    ],
)
def test_pep440_to_semver(pep440: str, semver: str) -> None:
    assert pep440_to_semver(pep440) == semver


def test_pep440_unsupported_form_names_the_expected_shape() -> None:
    with pytest.raises(VersionError, match=r"expected X\.Y\.Z"):
        pep440_to_semver("4.25.post1")
