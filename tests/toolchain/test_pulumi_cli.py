"""The CLI is found in order PATH -> cache -> download -> build, each decision on real inputs."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from toolchain import pulumi_cli
from toolchain.checksums import sha256_of
from toolchain.context import Context
from toolchain.system import BootstrapError

PIN = "3.274.1"


def _tarball(dest: Path, files: dict[str, str]) -> None:
    with tarfile.open(dest, "w:gz") as tar:
        for name, body in files.items():
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def release(http_root: tuple[Path, str, list[str]]) -> tuple[str, list[str]]:
    """An official-looking CLI archive on a loopback URL: (url, requested paths)."""
    root, base, requested = http_root
    _tarball(
        root / "pulumi.tar.gz",
        {
            "pulumi/pulumi": f"#!/bin/sh\necho v{PIN}\n",
            "pulumi/pulumi-language-python": "#!/bin/sh\n",
        },
    )
    _checksums(root, {"pulumi.tar.gz": sha256_of(root / "pulumi.tar.gz")})
    return f"{base}/pulumi.tar.gz", requested


def _checksums(root: Path, digests: dict[str, str]) -> None:
    """The release's checksums file, as the publisher lays it out beside the archives."""
    lines = "".join(f"{digest}  {name}\n" for name, digest in digests.items())
    (root / f"pulumi-{PIN}-checksums.txt").write_text(lines)


FETCHED = [f"/pulumi-{PIN}-checksums.txt", "/pulumi.tar.gz"]


def test_the_pinned_pulumi_on_path_wins(
    ctx: Context, make_exe: Callable[..., Path], bin_dir: Path, release, fake_go: Path
) -> None:
    make_exe("pulumi", f"echo v{PIN}\n")
    url, requested = release
    cli = pulumi_cli.resolve(ctx, PIN, urls=[url])
    assert (cli.origin, cli.directory, str(cli.version)) == ("PATH", bin_dir.resolve(), PIN)
    assert requested == []
    assert fake_go.read_text() == ""


def test_newer_pulumi_on_path_falls_through_to_the_download(
    ctx: Context, make_exe: Callable[..., Path], release, caplog: pytest.LogCaptureFixture
) -> None:
    make_exe("pulumi", "echo v3.280.0\n")
    url, requested = release
    with caplog.at_level("INFO", logger="bootstrap"):
        cli = pulumi_cli.resolve(ctx, PIN, urls=[url])
    assert (cli.origin, str(cli.version)) == ("download", PIN)
    assert requested == FETCHED
    assert f"is v3.280.0, not the pinned v{PIN}; not using it" in caplog.text


def test_old_pulumi_on_path_falls_through_to_the_download(ctx: Context, make_exe: Callable[..., Path], release) -> None:
    make_exe("pulumi", "echo v3.100.0\n")
    url, requested = release
    cli = pulumi_cli.resolve(ctx, PIN, urls=[url])
    assert cli.origin == "download"
    assert requested == FETCHED
    assert cli.directory == ctx.cache / "pulumi" / f"v{PIN}-download"
    assert str(pulumi_cli.cli_version(ctx, cli.pulumi)) == PIN
    assert (cli.directory / "pulumi-language-python").is_file()


def test_broken_pulumi_on_path_is_not_used(ctx: Context, make_exe: Callable[..., Path], release) -> None:
    make_exe("pulumi", "echo 'segfault' >&2; exit 139\n")
    url, _ = release
    assert pulumi_cli.resolve(ctx, PIN, urls=[url]).origin == "download"


def test_our_own_venv_link_is_not_taken_for_a_user_install(
    ctx: Context, make_exe: Callable[..., Path], release
) -> None:
    make_exe("pulumi", "echo v9.0.0\n", directory=ctx.venv_bin)
    ctx.system.path = f"{ctx.venv_bin}:{ctx.system.path}"
    url, _ = release
    assert pulumi_cli.resolve(ctx, PIN, urls=[url]).origin == "download"


def test_second_run_reuses_the_download_without_network(ctx: Context, release, unreachable_url: str) -> None:
    url, requested = release
    pulumi_cli.resolve(ctx, PIN, urls=[url])
    again = pulumi_cli.resolve(ctx, PIN, urls=[unreachable_url])
    assert again.origin == "cache (download)"
    assert requested == FETCHED


def test_unreachable_download_builds_from_go_modules(ctx: Context, fake_go: Path, unreachable_url: str) -> None:
    cli = pulumi_cli.resolve(ctx, PIN, urls=[unreachable_url])
    assert cli.origin == "build"
    assert str(pulumi_cli.cli_version(ctx, cli.pulumi)) == PIN
    for helper in pulumi_cli.HELPER_SCRIPTS:
        assert os.access(cli.directory / helper, os.X_OK), helper
    go_mod = (ctx.cache / "build" / f"pulumi-cli-v{PIN}" / "go.mod").read_text()
    assert f"require github.com/pulumi/pulumi/pkg/v3 v{PIN}" in go_mod
    # pkg's own replace directive is mirrored, its local-path one cannot be.
    assert "replace github.com/atotto/clipboard => github.com/tgummerer/clipboard" in go_mod
    assert "../sdk" not in go_mod
    calls = fake_go.read_text()
    assert f"-X {pulumi_cli.VERSION_VARIABLE}=v{PIN} {pulumi_cli.CLI_PACKAGE}" in calls
    assert f"mod download -json github.com/pulumi/pulumi/sdk/v3@v{PIN}" in calls


def test_second_run_reuses_the_build(ctx: Context, fake_go: Path, unreachable_url: str) -> None:
    pulumi_cli.resolve(ctx, PIN, urls=[unreachable_url])
    builds = fake_go.read_text().count("build -o")
    again = pulumi_cli.resolve(ctx, PIN, urls=[unreachable_url])
    assert again.origin == "cache (build)"
    assert fake_go.read_text().count("build -o") == builds == 1


def test_no_download_and_no_go_is_a_clear_error(ctx: Context, bin_dir: Path, unreachable_url: str) -> None:
    ctx.system.path = str(bin_dir)  # empty: no pulumi, no go
    with pytest.raises(BootstrapError, match="neither on PATH nor downloadable, and there is no Go toolchain") as info:
        pulumi_cli.resolve(ctx, PIN, urls=[unreachable_url])
    assert "install Go" in info.value.fix
    assert not (ctx.cache / "pulumi" / f"v{PIN}-download").exists()


def test_archive_without_pulumi_is_rejected(ctx: Context, http_root, fake_go: Path) -> None:
    root, base, _ = http_root
    _tarball(root / "other.tar.gz", {"README": "not pulumi"})
    _checksums(root, {"other.tar.gz": sha256_of(root / "other.tar.gz")})
    cli = pulumi_cli.resolve(ctx, PIN, urls=[f"{base}/other.tar.gz"])
    assert cli.origin == "build"
    assert not (ctx.cache / "pulumi" / f"v{PIN}-download").exists()


def test_archive_of_another_version_is_rejected(ctx: Context, http_root, fake_go: Path) -> None:
    root, base, _ = http_root
    _tarball(root / "old.tar.gz", {"pulumi/pulumi": "#!/bin/sh\necho v3.1.0\n"})
    _checksums(root, {"old.tar.gz": sha256_of(root / "old.tar.gz")})
    assert pulumi_cli.resolve(ctx, PIN, urls=[f"{base}/old.tar.gz"]).origin == "build"
    assert not (ctx.cache / "pulumi" / f"v{PIN}-download").exists()


def test_default_urls_name_this_platform() -> None:
    (url,) = pulumi_cli.cli_urls(PIN)
    assert url.startswith(f"https://get.pulumi.com/releases/sdk/pulumi-v{PIN}-")
    assert url.endswith(("-linux-x64.tar.gz", "-linux-arm64.tar.gz", "-darwin-x64.tar.gz", "-darwin-arm64.tar.gz"))


def test_an_archive_whose_checksum_differs_is_not_used(
    ctx: Context, http_root, release, fake_go: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, requested = release
    root = http_root[0]
    listing = (root / f"pulumi-{PIN}-checksums.txt").read_text()
    (root / f"pulumi-{PIN}-checksums.txt").write_text(listing.replace(listing[:64], "f" * 64))
    with caplog.at_level("INFO", logger="bootstrap"):
        cli = pulumi_cli.resolve(ctx, PIN, urls=[url])
    assert cli.origin == "build"
    assert "a corrupted or substituted archive; not using it" in caplog.text
    assert not (ctx.cache / "pulumi" / f"v{PIN}-download").exists()
    assert requested == FETCHED


def test_an_archive_its_release_does_not_list_is_not_used(ctx: Context, http_root, release, fake_go: Path) -> None:
    url, requested = release
    (http_root[0] / f"pulumi-{PIN}-checksums.txt").unlink()
    assert pulumi_cli.resolve(ctx, PIN, urls=[url]).origin == "build"
    assert set(requested) == {f"/pulumi-{PIN}-checksums.txt"}  # a 404 is logged twice; the archive never fetched
    assert not (ctx.cache / "pulumi" / f"v{PIN}-download").exists()


def test_a_pinned_checksum_wins_over_the_release_listing(
    ctx: Context, release, fake_go: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, requested = release
    monkeypatch.setitem(pulumi_cli.pins.ARCHIVE_SHA256, "pulumi.tar.gz", "e" * 64)
    assert pulumi_cli.resolve(ctx, PIN, urls=[url]).origin == "build"
    assert requested == ["/pulumi.tar.gz"]  # no listing needed: the pin decides, and refuses
