"""Docker engine and base image steps against a fake `docker` that records what it was asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from toolchain import apt, base_image, docker_engine, pins
from toolchain.context import Context
from toolchain.system import BootstrapError

FAKE_DOCKER = """
echo "$*" >> {log}
case "$1 $2" in
  "info --format") [ -f {engine_up} ] && echo 20.10.24 && exit 0; echo "Cannot connect" >&2; exit 1 ;;
  "info ") [ -f {engine_up} ] && exit 0; exit 1 ;;
  "image inspect") [ -f {images}/"$3" ] && exit 0; exit 1 ;;
  "pull "*) echo "dial tcp: lookup registry-1.docker.io: no such host" >&2; exit 1 ;;
  "run --rm") echo "Python 3.11.2" ;;
esac
if [ "$1" = import ]; then
  for last; do :; done
  touch {images}/"$last"
fi
"""


@pytest.fixture
def docker(ctx: Context, make_exe: Callable[..., Path], tmp_path: Path) -> dict[str, Path]:
    paths = {"log": tmp_path / "docker.log", "engine_up": tmp_path / "engine-up", "images": tmp_path / "images"}
    paths["images"].mkdir()
    paths["log"].touch()
    make_exe("docker", FAKE_DOCKER.format(**paths))
    return paths


@pytest.fixture
def not_installable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this is not root on Debian: the steps must never touch apt in tests."""
    monkeypatch.setattr(apt, "can_install", lambda ctx: False)


def test_is_debian_reads_os_release(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('PRETTY_NAME="Ubuntu 24.04"\nID=ubuntu\nID_LIKE=debian\n')
    assert apt.is_debian(release)
    release.write_text('ID="fedora"\n')
    assert not apt.is_debian(release)
    assert not apt.is_debian(tmp_path / "absent")


@pytest.mark.usefixtures("not_installable")
def test_engine_that_answers_is_left_alone(ctx: Context, docker: dict[str, Path]) -> None:
    docker["engine_up"].touch()
    assert docker_engine.run(ctx) == "engine 20.10.24 answers"
    assert docker_engine.check(ctx) == "engine 20.10.24 answers"


@pytest.mark.usefixtures("not_installable")
def test_no_engine_and_not_root_on_debian_tells_the_user_what_to_do(ctx: Context, docker: dict[str, Path]) -> None:
    with pytest.raises(BootstrapError, match="no Docker engine answers") as info:
        docker_engine.run(ctx)
    assert "install Docker" in info.value.fix and "start it" in info.value.fix


def test_missing_packages_without_apt_rights_are_named(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apt, "can_install", lambda ctx: False)
    with pytest.raises(BootstrapError, match="no-such-package-xyz missing") as info:
        apt.ensure(ctx, ["no-such-package-xyz"], "a test needs it")
    assert "package manager" in info.value.fix


@pytest.mark.usefixtures("not_installable")
def test_present_image_is_not_rebuilt(ctx: Context, docker: dict[str, Path]) -> None:
    docker["engine_up"].touch()
    (docker["images"] / pins.BASE_IMAGE).touch()
    assert base_image.run(ctx) == f"{pins.BASE_IMAGE} present"
    assert "pull" not in docker["log"].read_text()


@pytest.mark.usefixtures("not_installable")
def test_failed_pull_imports_the_cached_rootfs(ctx: Context, docker: dict[str, Path]) -> None:
    docker["engine_up"].touch()
    tarball = base_image.rootfs_tarball(ctx)
    tarball.parent.mkdir(parents=True)
    tarball.write_bytes(b"rootfs")
    summary = base_image.run(ctx)
    assert summary == f"imported {pins.BASE_IMAGE} from cached rootfs {tarball.name} (Python 3.11.2)"
    calls = docker["log"].read_text().splitlines()
    assert f"pull {pins.BASE_IMAGE_UPSTREAM}" in calls
    (imported,) = [c for c in calls if c.startswith("import ")]
    assert imported.endswith(f"{tarball} {pins.BASE_IMAGE}")
    assert "--change CMD" in imported
    assert base_image.check(ctx) == f"{pins.BASE_IMAGE} present"


def test_rootfs_key_changes_with_the_package_list(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    before = base_image.rootfs_tarball(ctx)
    monkeypatch.setattr(pins, "BASE_IMAGE_PACKAGES", (*pins.BASE_IMAGE_PACKAGES, "git"))
    assert base_image.rootfs_tarball(ctx) != before


@pytest.mark.usefixtures("not_installable")
def test_base_image_without_engine_names_the_docker_step(ctx: Context, docker: dict[str, Path]) -> None:
    with pytest.raises(BootstrapError, match="no Docker engine") as info:
        base_image.run(ctx)
    assert "--steps docker" in info.value.fix


def test_debootstrap_mirror_comes_from_apt_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(apt.MIRROR_ENV, raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example.internal/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb deb-src\n# http://snapshot.example/archive\nURIs: http://mirror.example.internal/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert apt.debian_mirror("bookworm", "http://fallback", tmp_path) == "http://mirror.example.internal/debian"
    assert apt.debian_mirror("trixie", "http://fallback", tmp_path) == "http://fallback"


def test_debootstrap_mirror_from_a_one_line_list_and_the_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(apt.MIRROR_ENV, raising=False)
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] https://corp.example/debian bookworm main contrib\n"
    )
    assert apt.debian_mirror("bookworm", "http://fallback", tmp_path) == "https://corp.example/debian"
    monkeypatch.setenv(apt.MIRROR_ENV, "http://override.example/debian")
    assert apt.debian_mirror("bookworm", "http://fallback", tmp_path) == "http://override.example/debian"


def test_rootfs_key_changes_with_the_mirror(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(apt.MIRROR_ENV, "http://one.example/debian")
    before = base_image.rootfs_tarball(ctx)
    monkeypatch.setenv(apt.MIRROR_ENV, "http://two.example/debian")
    assert base_image.rootfs_tarball(ctx) != before
