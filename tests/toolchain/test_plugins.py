"""The kubernetes plugin: version derived from the SDK pin, downloaded or built, installed once."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from toolchain import pins, plugins
from toolchain.checksums import sha256_of
from toolchain.context import Context
from toolchain.system import BootstrapError

VERSION = "4.25.0-alpha.1768448096"

FAKE_PULUMI = """
case "$1 $2" in
  "plugin ls") cat {state} 2>/dev/null || echo '[]' ;;
  "plugin install")
    echo "$* offline=$PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION" >> {log}
    printf '[{{"name": "%s", "kind": "%s", "version": "%s"}}]' "$4" "$3" "$5" > {state} ;;
esac
"""


@pytest.fixture
def offline_plugins(monkeypatch: pytest.MonkeyPatch, unreachable_url: str) -> None:
    monkeypatch.setattr(plugins, "PLUGIN_URL", unreachable_url + "?{name}{version}{os}{arch}")


@pytest.fixture
def provider_module(fake_go: Path, tmp_path: Path) -> Path:
    """The fake go's module gets the provider's main package with its un-embedded JSON."""
    main_dir = tmp_path / "gomod" / "cmd" / "pulumi-resource-kubernetes"
    main_dir.mkdir(parents=True)
    (main_dir / "main.go").write_text("package main\n")
    (main_dir / "schema.json").write_text(json.dumps({"name": "kubernetes", "resources": {"a": {}}}, indent=4))
    (main_dir / "terraform-mapping.json").write_text('{\n  "x": [1, 2]\n}\n')
    return main_dir


@pytest.fixture
def fake_pulumi(ctx: Context, make_exe: Callable[..., Path], tmp_path: Path) -> Path:
    log = tmp_path / "pulumi-calls.log"
    make_exe("pulumi", FAKE_PULUMI.format(state=tmp_path / "plugins.json", log=log), directory=ctx.venv_bin)
    return log


def test_spec_comes_from_the_pyproject_pin_and_the_module_table(ctx: Context) -> None:
    spec = plugins.kubernetes_spec(ctx.repo / "pyproject.toml")
    assert (spec.name, spec.version) == ("kubernetes", VERSION)
    assert spec.go_version == pins.KUBERNETES_GO_MODULES["4.25.0a1768448096"]


def test_pin_without_a_known_module_version_says_where_to_add_it(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["pulumi-kubernetes==9.9.9"]\n')
    with pytest.raises(BootstrapError, match=r"pulumi-kubernetes==9\.9\.9") as info:
        plugins.kubernetes_spec(pyproject)
    assert "KUBERNETES_GO_MODULES" in info.value.fix


def test_embedded_files_are_what_generate_go_writes(provider_module: Path) -> None:
    files = plugins.embedded_files(provider_module, VERSION)
    schema = json.loads(files["schema-embed.json"])
    assert schema == {"name": "kubernetes", "resources": {"a": {}}, "version": VERSION}
    assert b"\n" not in files["schema-embed.json"] and b" " not in files["schema-embed.json"]
    assert files["terraform-mapping-embed.json"] == b'{"x":[1,2]}'
    assert files["main.go"] == b"package main\n"


def _plugin_archive(path: Path) -> None:
    """A plugin archive as Pulumi lays it out: the provider binary at its root."""
    with tarfile.open(path, "w:gz") as tar:
        data = b"#!/bin/sh\necho downloaded\n"
        info = tarfile.TarInfo("pulumi-resource-kubernetes")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))


def test_download_is_used_when_reachable(ctx: Context, http_root, monkeypatch: pytest.MonkeyPatch) -> None:
    root, base, requested = http_root
    _plugin_archive(root / "k8s.tar.gz")
    monkeypatch.setattr(plugins, "PLUGIN_URL", base + "/k8s.tar.gz?{name}{version}{os}{arch}")
    monkeypatch.setitem(pins.ARCHIVE_SHA256, "k8s.tar.gz", sha256_of(root / "k8s.tar.gz"))
    binary = plugins.plugin_binary(ctx, plugins.kubernetes_spec(ctx.repo / "pyproject.toml"))
    assert ctx.system.run([binary]).stdout.strip() == "downloaded"
    assert len(requested) == 1


@pytest.mark.usefixtures("offline_plugins")
def test_unreachable_download_builds_a_main_module_of_our_own(
    ctx: Context, fake_go: Path, provider_module: Path
) -> None:
    spec = plugins.kubernetes_spec(ctx.repo / "pyproject.toml")
    binary = plugins.plugin_binary(ctx, spec)
    assert ctx.system.run([binary]).stdout.strip() == VERSION  # stamped through -ldflags
    workdir = ctx.cache / "build" / f"pulumi-resource-kubernetes-v{VERSION}"
    assert f"require {spec.go_module} {spec.go_version}" in (workdir / "go.mod").read_text()
    assert json.loads((workdir / "schema-embed.json").read_text())["version"] == VERSION
    assert f"-X {spec.version_variable}={VERSION} ." in fake_go.read_text()


@pytest.mark.usefixtures("offline_plugins")
def test_no_download_and_no_go_is_a_clear_error(ctx: Context, bin_dir: Path) -> None:
    ctx.system.path = str(bin_dir)
    with pytest.raises(BootstrapError, match="cannot be downloaded and there is no Go toolchain"):
        plugins.plugin_binary(ctx, plugins.kubernetes_spec(ctx.repo / "pyproject.toml"))
    assert not (ctx.cache / "plugins" / f"kubernetes-v{VERSION}").exists()


@pytest.mark.usefixtures("offline_plugins", "provider_module")
def test_install_once_then_skip(ctx: Context, fake_go: Path, fake_pulumi: Path) -> None:
    with pytest.raises(BootstrapError, match="not installed"):
        plugins.check(ctx)
    assert plugins.run(ctx).startswith(f"installed resource plugin kubernetes v{VERSION}")
    installs = fake_pulumi.read_text().splitlines()
    assert installs == [
        f"plugin install resource kubernetes {VERSION} --file "
        f"{ctx.cache / 'plugins' / f'kubernetes-v{VERSION}' / 'pulumi-resource-kubernetes'} offline=1"
    ]
    assert plugins.run(ctx) == f"resource plugin kubernetes v{VERSION} already installed"
    assert len(fake_pulumi.read_text().splitlines()) == 1
    assert fake_go.read_text().count("build -o") == 1
    assert plugins.check(ctx) == f"resource plugin kubernetes v{VERSION} installed"


@pytest.mark.parametrize("pinned", [None, "0" * 64])
def test_a_plugin_archive_nothing_vouches_for_is_not_used(
    ctx: Context, http_root, monkeypatch: pytest.MonkeyPatch, fake_go: Path, provider_module: Path, pinned: str | None
) -> None:
    """No pinned checksum (Pulumi lists none for plugins), or a pinned one the archive does not match: the
    plugin is built from the module proxy instead, and the archive never reaches the cache."""
    root, base, _ = http_root
    _plugin_archive(root / "k8s.tar.gz")
    monkeypatch.setattr(plugins, "PLUGIN_URL", base + "/k8s.tar.gz?{name}{version}{os}{arch}")
    if pinned:
        monkeypatch.setitem(pins.ARCHIVE_SHA256, "k8s.tar.gz", pinned)
    binary = plugins.plugin_binary(ctx, plugins.kubernetes_spec(ctx.repo / "pyproject.toml"))
    assert ctx.system.run([binary]).stdout.strip() == VERSION  # the build, not the archive
    assert "build -o" in fake_go.read_text()
