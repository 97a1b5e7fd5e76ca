"""Docker engine and base image steps against a fake `docker` that records what it was asked.

The fake keeps each image as a file named by its tag holding `ID REPO_DIGESTS`, as `docker image inspect
--format '{{.Id}} {{json .RepoDigests}}'` prints them; an import gives a new ID each time, as the engine does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from toolchain import apt, base_image, docker_engine, pins
from toolchain.context import Context
from toolchain.system import BootstrapError

FAKE_DOCKER = """
echo "$*" >> {log}
for last; do :; done
case "$1 $2" in
  "info --format") [ -f {engine_up} ] && echo 20.10.24 && exit 0; echo "Cannot connect" >&2; exit 1 ;;
  "info ") [ -f {engine_up} ] && exit 0; exit 1 ;;
  "image inspect") [ -f {images}/"$last" ] && cat {images}/"$last" && exit 0; exit 1 ;;
  "run --rm") echo "Python 3.11.2" ;;
esac
case "$1" in
  pull) [ -f {pullable} ] && echo "sha256:upstream0001 [\\"python@sha256:digest0001\\"]" > {images}/"$2" && exit 0
        echo "dial tcp: lookup registry-1.docker.io: no such host" >&2; exit 1 ;;
  tag) cp {images}/"$2" {images}/"$3" ;;
  import) echo "sha256:imported$(date +%s%N) []" > {images}/"$last" ;;
esac
"""


@pytest.fixture
def docker(ctx: Context, make_exe: Callable[..., Path], tmp_path: Path) -> dict[str, Path]:
    paths = {
        "log": tmp_path / "docker.log",
        "engine_up": tmp_path / "engine-up",
        "images": tmp_path / "images",
        "pullable": tmp_path / "pullable",
    }
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
def test_a_present_image_is_recorded_once_then_not_rebuilt(ctx: Context, docker: dict[str, Path]) -> None:
    docker["engine_up"].touch()
    (docker["images"] / pins.BASE_IMAGE).write_text("sha256:made0001 []\n")
    assert base_image.run(ctx) == f"{pins.BASE_IMAGE} present, recorded as sha256:made0001"
    assert base_image.run(ctx) == f"{pins.BASE_IMAGE} present (sha256:made0001)"
    assert "pull" not in docker["log"].read_text()
    assert base_image.read_record(ctx)[pins.BASE_IMAGE]["id"] == "sha256:made0001"


@pytest.mark.usefixtures("not_installable")
def test_failed_pull_imports_the_cached_rootfs(ctx: Context, docker: dict[str, Path]) -> None:
    docker["engine_up"].touch()
    tarball = base_image.rootfs_tarball(ctx)
    tarball.parent.mkdir(parents=True)
    tarball.write_bytes(b"rootfs")
    summary = base_image.run(ctx)
    recorded = base_image.read_record(ctx)[pins.BASE_IMAGE]
    assert summary == (
        f"imported {pins.BASE_IMAGE} from cached rootfs {tarball.name} (Python 3.11.2), recorded as {recorded['id']}"
    )
    assert recorded["id"].startswith("sha256:imported") and recorded["repo_digest"] == ""
    assert recorded["origin"] == "imported" and recorded["recipe"] == base_image.recipe()
    calls = docker["log"].read_text().splitlines()
    assert f"pull {pins.BASE_IMAGE_UPSTREAM}" in calls
    (imported,) = [c for c in calls if c.startswith("import ")]
    assert imported.endswith(f"{tarball} {pins.BASE_IMAGE}")
    assert "--change CMD" in imported
    assert base_image.check(ctx) == f"{pins.BASE_IMAGE} present ({recorded['id']})"


@pytest.mark.usefixtures("not_installable")
def test_a_pulled_base_is_recorded_by_its_repo_digest(ctx: Context, docker: dict[str, Path]) -> None:
    docker["engine_up"].touch()
    docker["pullable"].touch()
    summary = base_image.run(ctx)
    assert summary == f"pulled {pins.BASE_IMAGE_UPSTREAM} as {pins.BASE_IMAGE}, recorded as python@sha256:digest0001"
    recorded = base_image.read_record(ctx)[pins.BASE_IMAGE]
    assert recorded["id"] == "sha256:upstream0001" and recorded["origin"] == "pulled"
    assert base_image.check(ctx) == f"{pins.BASE_IMAGE} present (python@sha256:digest0001)"


@pytest.mark.usefixtures("not_installable")
def test_a_base_tag_given_to_another_image_is_refused_with_the_fix(ctx: Context, docker: dict[str, Path]) -> None:
    docker["engine_up"].touch()
    docker["pullable"].touch()
    base_image.run(ctx)
    (docker["images"] / pins.BASE_IMAGE).write_text("sha256:somethingelse []\n")  # `docker tag other BASE`
    for step in (base_image.run, base_image.check):
        with pytest.raises(BootstrapError, match="is sha256:somethingelse, not the sha256:upstream0001") as info:
            step(ctx)
        assert f"docker rmi {pins.BASE_IMAGE}" in info.value.fix and "--steps base-image" in info.value.fix
    assert base_image.read_record(ctx)[pins.BASE_IMAGE]["id"] == "sha256:upstream0001"


@pytest.mark.usefixtures("not_installable")
def test_a_changed_recipe_makes_the_base_again_and_records_the_new_identity(
    ctx: Context, docker: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    docker["engine_up"].touch()
    tarball = base_image.rootfs_tarball(ctx)
    tarball.parent.mkdir(parents=True)
    tarball.write_bytes(b"rootfs")
    base_image.run(ctx)
    first = base_image.read_record(ctx)[pins.BASE_IMAGE]
    monkeypatch.setattr(pins, "BASE_IMAGE_PACKAGES", (*pins.BASE_IMAGE_PACKAGES, "git"))
    changed = base_image.rootfs_tarball(ctx)
    changed.write_bytes(b"rootfs with git")
    assert base_image.run(ctx).startswith(f"imported {pins.BASE_IMAGE} from cached rootfs {changed.name}")
    second = base_image.read_record(ctx)[pins.BASE_IMAGE]
    assert second["id"] != first["id"] and second["recipe"] == base_image.recipe() != first["recipe"]


def test_the_record_is_where_the_platform_program_reads_it(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.images.base import record_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(ctx.cache.parent / "xdg"))
    assert record_path() == pins.cache_dir() / base_image.RECORD_FILE


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
