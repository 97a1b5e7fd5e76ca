"""The cluster step's pure parts: the main modules it writes, the CoreDNS plugin list, the image tarballs."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from toolchain import golang, kube_binaries, kube_step, pins
from toolchain.context import Context
from toolchain.steps import STEPS
from toolchain.system import BootstrapError

UPSTREAM_GO_MOD = """module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
\tk8s.io/api v0.0.0
\tgithub.com/a/b v1.2.3
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/component-base => ./staging/src/k8s.io/component-base
)

replace github.com/a/b => github.com/fork/b v1.2.4
"""


def test_every_staging_repo_is_replaced_by_its_published_twin() -> None:
    assert kube_binaries.staging_replaces(UPSTREAM_GO_MOD, "v0.34.4") == {
        "k8s.io/api": "k8s.io/api v0.34.4",
        "k8s.io/client-go": "k8s.io/client-go v0.34.4",
        "k8s.io/component-base": "k8s.io/component-base v0.34.4",
    }


def test_a_go_mod_without_staging_replaces_is_an_error() -> None:
    with pytest.raises(BootstrapError, match="staging"):
        kube_binaries.staging_replaces("module k8s.io/kubernetes\n", "v0.34.4")


def test_kube_module_requires_kubernetes_and_keeps_module_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "go.mod").write_text(UPSTREAM_GO_MOD, encoding="utf-8")
    monkeypatch.setattr(golang, "module_source", lambda *args: tmp_path)
    module = kube_binaries.kube_module(Context(repo=tmp_path, cache=tmp_path / "cache"))
    go_mod = module.go_mod(kube_binaries.KUBE_GO_VERSION)
    assert f"require k8s.io/kubernetes {pins.KUBERNETES_VERSION}" in go_mod
    assert f"replace k8s.io/client-go => k8s.io/client-go {pins.KUBERNETES_STAGING_VERSION}" in go_mod
    assert "replace github.com/a/b => github.com/fork/b v1.2.4" in go_mod
    assert "./staging" not in go_mod
    tools = module.files["tools.go"].decode()
    assert tools.startswith("//go:build tools\n")
    for command in kube_binaries.KUBE_COMMANDS:
        assert f'_ "k8s.io/kubernetes/cmd/{command}"' in tools


def test_version_is_stamped_in_both_version_packages() -> None:
    flags = kube_binaries.kube_ldflags("v1.34.4")
    assert flags.startswith("-s -w ")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.34.4" in flags
        assert f"-X {package}.gitMajor=1" in flags
        assert f"-X {package}.gitMinor=34" in flags
    with pytest.raises(ValueError):
        kube_binaries.kube_ldflags("1.34")


def test_coredns_plugin_list_has_no_forward_and_keeps_upstream_order() -> None:
    source = kube_binaries.coredns_main().decode()
    directives = [d for d, _ in kube_binaries.COREDNS_PLUGINS]
    assert "forward" not in directives and "plugin/forward" not in source
    assert '_ "github.com/coredns/coredns/plugin/metrics"' in source  # the `prometheus` directive's package
    positions = [source.index(f'\t\t"{d}",') for d in directives]
    assert positions == sorted(positions)
    upstream = [
        "reload",
        "bind",
        "ready",
        "health",
        "prometheus",
        "errors",
        "log",
        "loadbalance",
        "cache",
        "hosts",
        "kubernetes",
        "loop",
    ]
    assert directives == [d for d in upstream if d in directives]


def test_module_path_changes_with_the_files_so_tidy_runs_again() -> None:
    one = kube_binaries.module_path("coredns", {"main.go": b"a"})
    assert one == kube_binaries.module_path("coredns", {"main.go": b"a"})
    assert one != kube_binaries.module_path("coredns", {"main.go": b"b"})
    assert one.startswith("mlops.local/toolchain/coredns-")


def test_components_are_cached_by_version_outside_the_clone(tmp_path: Path) -> None:
    ctx = Context(repo=tmp_path / "repo", cache=tmp_path / "cache")
    entries = {c.name: c.entry(ctx) for c in kube_binaries.COMPONENTS}
    assert entries["kubernetes"] == tmp_path / "cache" / "cluster" / f"kubernetes-{pins.KUBERNETES_VERSION}"
    assert entries["etcd"].name == f"etcd-{pins.ETCD_VERSION}"
    assert sorted(kube_binaries.missing(ctx)) == sorted([*kube_binaries.KUBE_COMMANDS, "etcd", "coredns"])


def _members(data: bytes) -> dict[str, tarfile.TarInfo | bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_image_tarball_is_a_reproducible_docker_save_of_one_layer() -> None:
    tag = kube_step.pause_tag()
    assert not tag.endswith(":latest")
    data = kube_step.image_tarball({"pause": (b"\x7fELF...", 0o755)}, tag, ["/pause"], "amd64")
    assert data == kube_step.image_tarball({"pause": (b"\x7fELF...", 0o755)}, tag, ["/pause"], "amd64")
    members = _members(data)
    (manifest,) = json.loads(members["manifest.json"])
    assert manifest["RepoTags"] == [tag]
    (layer_name,) = manifest["Layers"]
    config = json.loads(members[manifest["Config"]])
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(members[layer_name]).hexdigest()}"]
    assert config["config"]["Entrypoint"] == ["/pause"]
    with tarfile.open(fileobj=io.BytesIO(members[layer_name])) as layer:
        (binary,) = layer.getmembers()
        assert (binary.name, binary.mode, binary.uid) == ("pause", 0o755, 0)


def test_cluster_step_runs_after_the_base_image() -> None:
    names = list(STEPS)
    assert names.index("cluster") == names.index("base-image") + 1
    assert STEPS["cluster"].run is kube_step.run


def test_check_names_everything_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube_step.apt, "missing", lambda ctx, packages: ["containerd"])
    with pytest.raises(BootstrapError) as info:
        kube_step.check(Context(repo=tmp_path, cache=tmp_path / "cache"))
    assert "binaries not built: kube-apiserver" in info.value.problem
    assert "packages not installed: containerd" in info.value.problem
    assert "--steps cluster" in info.value.fix
