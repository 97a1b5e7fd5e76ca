from __future__ import annotations

from pathlib import Path

import pytest

from toolchain import pins


def test_plugin_version_is_derived_from_the_real_pyproject_pin() -> None:
    assert pins.kubernetes_pin() == "4.25.0a1768448096"
    assert pins.kubernetes_plugin_version() == "4.25.0-alpha.1768448096"
    assert pins.kubernetes_pin() in pins.KUBERNETES_GO_MODULES


def test_pins_read_only_exact_requirements(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["Pulumi_Kubernetes == 4.34.2", "mlflow>=3", "pulumi==3.272.0"]\n',
        encoding="utf-8",
    )
    assert pins.python_pins(pyproject) == {"pulumi-kubernetes": "4.34.2", "pulumi": "3.272.0"}
    assert pins.kubernetes_plugin_version(pyproject) == "4.34.2"


def test_missing_kubernetes_pin_says_how_to_fix(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["pulumi-kubernetes>=4"]\n', encoding="utf-8")
    with pytest.raises(KeyError, match="pin it with `==`"):
        pins.kubernetes_pin(pyproject)


def test_pulumi_env_is_offline_and_leaves_the_base_alone() -> None:
    base = {"PATH": "/bin", "PULUMI_SKIP_UPDATE_CHECK": "0"}
    env = pins.pulumi_env(base)
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "1"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "1"
    assert env["PATH"] == "/bin"
    assert base["PULUMI_SKIP_UPDATE_CHECK"] == "0"


def test_cache_dir_follows_xdg_and_stays_outside_the_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert pins.cache_dir() == tmp_path / "mlops-platform" / "toolchain"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert not pins.cache_dir().is_relative_to(pins.REPO_ROOT)


def test_every_go_module_the_bootstrap_builds_from_has_a_pinned_checksum() -> None:
    """A bump of any version below without its checksum would stop the bootstrap at the download."""
    from toolchain import kube_binaries, plugins, pulumi_cli, tools

    built = {
        f"{pulumi_cli.PKG_MODULE}@v{pins.PULUMI_VERSION}",
        f"{pulumi_cli.SDK_MODULE}@v{pins.PULUMI_VERSION}",
        f"{kube_binaries.KUBE_MODULE}@{pins.KUBERNETES_VERSION}",
        f"{kube_binaries.ETCD_MODULE}@{pins.ETCD_VERSION}",
        f"{kube_binaries.COREDNS_MODULE}@{pins.COREDNS_VERSION}",
        f"{plugins.kubernetes_spec().go_module}@{plugins.kubernetes_spec().go_version}",
        *(f"{tool.module}@{tool.version}" for tool in tools.TOOLS),
    }
    assert built == set(pins.GO_MODULE_SUMS)
    assert all(value.startswith("h1:") and value.endswith("=") for value in pins.GO_MODULE_SUMS.values())
