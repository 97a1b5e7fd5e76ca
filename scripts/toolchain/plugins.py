"""The `plugins` step: the kubernetes resource plugin, exactly the version the Python SDK pins.

No docker plugin: the docker target talks to the Engine API through a dynamic provider of ours.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from toolchain import cache, golang, pins
from toolchain.checksums import Download, fetch_verified
from toolchain.context import Context, host_platform
from toolchain.system import BootstrapError, FetchError

log = logging.getLogger("bootstrap")

PLUGIN_URL = "https://get.pulumi.com/releases/plugins/pulumi-resource-{name}-v{version}-{os}-{arch}.tar.gz"


@dataclass(frozen=True)
class PluginSpec:
    name: str
    version: str
    go_module: str
    go_version: str
    main_dir: str
    version_variable: str

    @property
    def binary(self) -> str:
        return f"pulumi-resource-{self.name}"

    def urls(self) -> list[str]:
        os_name, arch = host_platform()
        return [PLUGIN_URL.format(name=self.name, version=self.version, os=os_name, arch=arch)]


def kubernetes_spec(pyproject: Path | None = None) -> PluginSpec:
    pin = pins.kubernetes_pin(pyproject)
    if pin not in pins.KUBERNETES_GO_MODULES:
        raise BootstrapError(
            f"no Go module version is known for pulumi-kubernetes=={pin}",
            "add the provider module version of the same commit to KUBERNETES_GO_MODULES in "
            "scripts/toolchain/pins.py (`go list -m -versions github.com/pulumi/pulumi-kubernetes/provider/v4`)",
        )
    return PluginSpec(
        name="kubernetes",
        version=pins.kubernetes_plugin_version(pyproject),
        go_module="github.com/pulumi/pulumi-kubernetes/provider/v4",
        go_version=pins.KUBERNETES_GO_MODULES[pin],
        main_dir="cmd/pulumi-resource-kubernetes",
        version_variable="github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version",
    )


def embedded_files(main_dir: Path, version: str) -> dict[str, bytes]:
    """What the provider's generate.go writes: the schema stamped with our version, both compacted."""
    schema = json.loads((main_dir / "schema.json").read_text(encoding="utf-8"))
    schema["version"] = version
    mapping = json.loads((main_dir / "terraform-mapping.json").read_text(encoding="utf-8"))
    return {
        "main.go": (main_dir / "main.go").read_bytes(),
        "schema-embed.json": json.dumps(schema, separators=(",", ":"), ensure_ascii=False).encode(),
        "terraform-mapping-embed.json": json.dumps(mapping, separators=(",", ":"), ensure_ascii=False).encode(),
    }


def build_plugin(ctx: Context, spec: PluginSpec, output: Path) -> None:
    source = golang.module_source(ctx.system, spec.go_module, spec.go_version, ctx.cache / "build" / "go-download")
    module = golang.MainModule(
        path=f"mlops.local/toolchain/{spec.binary}",
        requires={spec.go_module: spec.go_version},
        replaces=golang.module_replaces(source / "go.mod"),
        files=embedded_files(source / spec.main_dir, spec.version),
    )
    log_file = ctx.log_file(f"{spec.binary}-v{spec.version}")
    log.info(
        "  building %s v%s from %s@%s (log: %s)", spec.binary, spec.version, spec.go_module, spec.go_version, log_file
    )
    golang.build(
        ctx.system,
        module,
        ctx.cache / "build" / f"{spec.binary}-v{spec.version}",
        ".",
        output,
        f"-X {spec.version_variable}={spec.version}",
        log_file,
    )


def _download(ctx: Context, spec: PluginSpec, scratch: Path) -> bool:
    for url in spec.urls():
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            archive = Path(tmp) / "plugin.tar.gz"
            try:
                # Pulumi publishes no checksums file for plugin archives: only a pinned value vouches for one.
                fetch_verified(ctx.system, Download(url), archive, ctx.download_timeout)
                with tarfile.open(archive) as tar:
                    tar.extractall(Path(tmp) / "x", filter="data")
            except (FetchError, tarfile.TarError, OSError) as exc:
                log.info("  download unavailable: %s", exc)
                continue
            found = Path(tmp) / "x" / spec.binary
            if found.is_file():
                shutil.move(found, scratch / spec.binary)
                return True
    return False


def plugin_binary(ctx: Context, spec: PluginSpec) -> Path:
    """The cached plugin binary: downloaded when possible, else built from the Go module."""
    entry = ctx.cache / "plugins" / f"{spec.name}-v{spec.version}"

    def produce(scratch: Path) -> None:
        if _download(ctx, spec, scratch):
            return
        if ctx.system.which("go") is None:
            raise BootstrapError(
                f"the {spec.name} plugin v{spec.version} cannot be downloaded and there is no Go toolchain to build it",
                golang.NO_GO_FIX,
            )
        build_plugin(ctx, spec, scratch / spec.binary)

    cache.publish(entry, produce)
    return entry / spec.binary


def installed(ctx: Context, pulumi: Path) -> list[tuple[str, str, str]]:
    """(kind, name, version) of every plugin `pulumi plugin ls` knows."""
    proc = ctx.system.run([pulumi, "plugin", "ls", "--json"], env=pins.pulumi_env({}), timeout=120)
    return [(p.get("kind", ""), p.get("name", ""), p.get("version", "")) for p in json.loads(proc.stdout or "[]") or []]


def _pulumi(ctx: Context) -> Path:
    pulumi = ctx.venv_bin / "pulumi"
    if not pulumi.exists():
        raise BootstrapError(f"{pulumi} is missing", "run `scripts/bootstrap.py --steps pulumi` first")
    return pulumi


def run(ctx: Context) -> str:
    spec = kubernetes_spec(ctx.repo / "pyproject.toml")
    pulumi = _pulumi(ctx)
    if ("resource", spec.name, spec.version) in installed(ctx, pulumi):
        return f"resource plugin {spec.name} v{spec.version} already installed"
    binary = plugin_binary(ctx, spec)
    ctx.system.run(
        [pulumi, "plugin", "install", "resource", spec.name, spec.version, "--file", binary],
        env=pins.pulumi_env({}),
        timeout=300,
    )
    if ("resource", spec.name, spec.version) not in installed(ctx, pulumi):
        raise BootstrapError(
            f"`pulumi plugin install` ran but `pulumi plugin ls` does not list {spec.name} v{spec.version}",
            "run `.venv/bin/pulumi plugin ls` and remove stale entries with `pulumi plugin rm`",
        )
    return f"installed resource plugin {spec.name} v{spec.version} from {binary}"


def check(ctx: Context) -> str:
    spec = kubernetes_spec(ctx.repo / "pyproject.toml")
    if ("resource", spec.name, spec.version) not in installed(ctx, _pulumi(ctx)):
        raise BootstrapError(
            f"resource plugin {spec.name} v{spec.version} is not installed",
            "run `scripts/bootstrap.py --steps plugins`",
        )
    return f"resource plugin {spec.name} v{spec.version} installed"
