from __future__ import annotations

from pathlib import Path

import pytest

from toolchain import golang
from toolchain.system import BootstrapError, System


def test_module_replaces_mirrors_module_targets_only(tmp_path: Path) -> None:
    go_mod = tmp_path / "go.mod"
    go_mod.write_text(
        "module example.com/pkg\n\n"
        "replace github.com/pulumi/pulumi/sdk/v3 => ../sdk\n"
        "replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e\n"
        "replace (\n"
        "\tgithub.com/a/b v1.0.0 => github.com/c/b v1.0.1 // pinned fork\n"
        "\tgithub.com/local/x => ./x\n"
        ")\n"
        "require github.com/a/b v1.0.0\n"
    )
    assert golang.module_replaces(go_mod) == {
        "github.com/atotto/clipboard": "github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e",
        "github.com/a/b": "github.com/c/b v1.0.1",
    }


def test_main_module_rewrites_only_when_requirements_change(tmp_path: Path) -> None:
    module = golang.MainModule(
        "mlops.local/x", {"github.com/a/b": "v1.0.0"}, {"github.com/c/d": "github.com/e/d v2.0.0"}
    )
    assert module.write(tmp_path, "1.26") is True
    text = (tmp_path / "go.mod").read_text()
    assert "require github.com/a/b v1.0.0" in text
    assert "replace github.com/c/d => github.com/e/d v2.0.0" in text
    # What `go mod tidy` would leave behind must survive an unchanged second write.
    (tmp_path / "go.mod").write_text(text + "require golang.org/x/sys v0.1.0 // indirect\n")
    (tmp_path / "go.sum").write_text("sums\n")
    assert module.write(tmp_path, "1.26") is False
    assert "golang.org/x/sys" in (tmp_path / "go.mod").read_text()
    bumped = golang.MainModule("mlops.local/x", {"github.com/a/b": "v1.1.0"})
    assert bumped.write(tmp_path, "1.26") is True
    assert not (tmp_path / "go.sum").exists()


def test_no_go_on_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BootstrapError, match="no Go toolchain on PATH") as info:
        golang.find_go(System(path=str(tmp_path)))
    assert "install Go" in info.value.fix


def test_refused_module_names_the_module(tmp_path: Path, make_exe, bin_dir: Path) -> None:
    make_exe(
        "go",
        """
        echo '{"Path": "github.com/x/y", "Version": "v1.0.0",'
        echo ' "Error": "403 Forbidden: This module version is not available"}'
        exit 1
        """,
    )
    with pytest.raises(BootstrapError, match=r"did not provide github.com/x/y@v1.0.0: 403") as info:
        golang.module_source(System(path=f"{bin_dir}:/bin:/usr/bin"), "github.com/x/y", "v1.0.0", tmp_path / "s")
    assert "GOPROXY" in info.value.fix


def _go_serving(make_exe, tmp_path: Path, sum_: str) -> None:
    """A `go` whose `mod download -json` reports `sum_` for whatever it is asked."""
    (tmp_path / "src").mkdir(exist_ok=True)
    make_exe(
        "go",
        f"""
        echo '{{"Path": "github.com/x/y", "Version": "v1.0.0", "Dir": "{tmp_path / "src"}", "Sum": "{sum_}"}}'
        """,
    )


def test_a_module_is_used_only_at_its_pinned_checksum(
    tmp_path: Path, make_exe, bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolchain import pins

    system = System(path=f"{bin_dir}:/bin:/usr/bin")
    monkeypatch.setattr(pins, "GO_MODULE_SUMS", {"github.com/x/y@v1.0.0": "h1:right="})
    _go_serving(make_exe, tmp_path, "h1:right=")
    assert golang.module_source(system, "github.com/x/y", "v1.0.0", tmp_path / "s") == tmp_path / "src"

    _go_serving(make_exe, tmp_path, "h1:other=")
    with pytest.raises(BootstrapError, match=r"github.com/x/y@v1.0.0 downloaded with checksum h1:other=, not") as info:
        golang.module_source(system, "github.com/x/y", "v1.0.0", tmp_path / "s")
    assert "go clean -modcache" in info.value.fix


def test_a_module_nobody_pinned_is_refused_with_the_line_to_add(
    tmp_path: Path, make_exe, bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolchain import pins

    monkeypatch.setattr(pins, "GO_MODULE_SUMS", {})
    _go_serving(make_exe, tmp_path, "h1:abc=")
    with pytest.raises(BootstrapError, match=r"no pinned checksum for the Go module github.com/x/y@v1.0.0") as info:
        golang.module_source(System(path=f"{bin_dir}:/bin:/usr/bin"), "github.com/x/y", "v1.0.0", tmp_path / "s")
    assert '"github.com/x/y@v1.0.0": "h1:abc="' in info.value.fix and "sumdb/sum.golang.org/lookup" in info.value.fix
