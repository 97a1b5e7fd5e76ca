"""The local cluster's binaries, built from Go modules: Kubernetes, etcd and CoreDNS.

Each component is a main module of our own (so the versions are ours to pin), built with
`CGO_ENABLED=0 -trimpath` and stripped. Only the binaries are cached, keyed by version: the Go
build cache behind them is gigabytes and stays wherever Go keeps it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from toolchain import cache, golang, pins
from toolchain.context import Context
from toolchain.system import BootstrapError

log = logging.getLogger("bootstrap")

KUBE_MODULE = "k8s.io/kubernetes"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
COREDNS_MODULE = "github.com/coredns/coredns"
KUBE_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "kubeadm",
)
# Kubernetes pins GODEBUG defaults to this language version in its own go.mod; our main module
# says the same so the binaries behave like upstream's.
KUBE_GO_VERSION = "1.24.0"

ETCD_MAIN = b"""package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""

# CoreDNS plugins as (directive, package under plugin/), in upstream's execution order (plugin.cfg).
# No `forward`: names outside the cluster must never be resolved upstream from this machine.
COREDNS_PLUGINS = (
    ("reload", "reload"),
    ("bind", "bind"),
    ("ready", "ready"),
    ("health", "health"),
    ("prometheus", "metrics"),
    ("errors", "errors"),
    ("log", "log"),
    ("loadbalance", "loadbalance"),
    ("cache", "cache"),
    ("hosts", "hosts"),
    ("kubernetes", "kubernetes"),
    ("loop", "loop"),
)


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    binaries: tuple[str, ...]

    def entry(self, ctx: Context) -> Path:
        return ctx.cache / "cluster" / f"{self.name}-{self.version}"


KUBERNETES = Component("kubernetes", pins.KUBERNETES_VERSION, KUBE_COMMANDS)
ETCD = Component("etcd", pins.ETCD_VERSION, ("etcd",))
COREDNS = Component("coredns", pins.COREDNS_VERSION, ("coredns",))
COMPONENTS = (KUBERNETES, ETCD, COREDNS)


def staging_replaces(go_mod_text: str, version: str) -> dict[str, str]:
    """`k8s.io/<repo> => k8s.io/<repo> <version>` for every replace that points into ./staging."""
    found = re.findall(r"^\s*(k8s\.io/[\w.\-/]+)\s*=>\s*\./staging/src/\1\s*$", go_mod_text, flags=re.M)
    if not found:
        raise BootstrapError(
            "no ./staging replace directives found in k8s.io/kubernetes's go.mod",
            "the module layout changed: check KUBERNETES_VERSION in scripts/toolchain/pins.py",
        )
    return {repo: f"{repo} {version}" for repo in sorted(set(found))}


def kube_ldflags(version: str) -> str:
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+.*", version)
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    major, minor = match.groups()
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def tools_go(packages: list[str]) -> bytes:
    """Blank imports under a build tag, so `go mod tidy` keeps the requirements of main packages."""
    imports = "".join(f'\t_ "{p}"\n' for p in packages)
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n".encode()


def coredns_main(plugins: tuple[tuple[str, str], ...] = COREDNS_PLUGINS) -> bytes:
    """A CoreDNS main with only `plugins` compiled in and registered, in their execution order."""
    imports = "".join(f'\t_ "github.com/coredns/coredns/plugin/{package}"\n' for _, package in plugins)
    directives = "".join(f'\t\t"{directive}",\n' for directive, _ in plugins)
    return (
        "package main\n\nimport (\n"
        '\t"github.com/coredns/coredns/core/dnsserver"\n'
        '\t"github.com/coredns/coredns/coremain"\n\n'
        f"{imports})\n\n"
        "func init() {\n\tdnsserver.Directives = []string{\n"
        f"{directives}\t}}\n}}\n\n"
        "func main() { coremain.Run() }\n"
    ).encode()


def module_path(name: str, files: dict[str, bytes]) -> str:
    """A main module path that changes with its files, so a new import list is resolved again by tidy."""
    digest = hashlib.sha256(b"".join(k.encode() + b"\0" + v for k, v in sorted(files.items()))).hexdigest()[:8]
    return f"mlops.local/toolchain/{name}-{digest}"


def kube_module(ctx: Context) -> golang.MainModule:
    source = golang.module_source(ctx.system, KUBE_MODULE, pins.KUBERNETES_VERSION, _download_dir(ctx))
    replaces = golang.module_replaces(source / "go.mod")
    files = {"tools.go": tools_go([f"{KUBE_MODULE}/cmd/{c}" for c in KUBE_COMMANDS])}
    replaces.update(staging_replaces((source / "go.mod").read_text(encoding="utf-8"), pins.KUBERNETES_STAGING_VERSION))
    return golang.MainModule(
        path=module_path("kubernetes", files),
        requires={KUBE_MODULE: pins.KUBERNETES_VERSION},
        replaces=replaces,
        files=files,
    )


def etcd_module(ctx: Context) -> golang.MainModule:
    source = golang.module_source(ctx.system, ETCD_MODULE, pins.ETCD_VERSION, _download_dir(ctx))
    return golang.MainModule(
        path=module_path("etcd", {"main.go": ETCD_MAIN}),
        requires={ETCD_MODULE: pins.ETCD_VERSION},
        replaces=golang.module_replaces(source / "go.mod"),
        files={"main.go": ETCD_MAIN},
    )


def coredns_module(ctx: Context) -> golang.MainModule:
    source = golang.module_source(ctx.system, COREDNS_MODULE, pins.COREDNS_VERSION, _download_dir(ctx))
    return golang.MainModule(
        path=module_path("coredns", {"main.go": coredns_main()}),
        requires={COREDNS_MODULE: pins.COREDNS_VERSION},
        replaces=golang.module_replaces(source / "go.mod"),
        files={"main.go": coredns_main()},
    )


def _download_dir(ctx: Context) -> Path:
    return ctx.cache / "build" / "go-download"


def go_build(
    ctx: Context,
    module: golang.MainModule,
    go_version: str,
    workdir: Path,
    packages: list[str],
    output: str,
    ldflags: str,
) -> None:
    """`go mod tidy` when needed, then one static, trimmed `go build -o output packages...`.

    With several packages `output` is a directory ending in "/", and each binary is named after its package.
    """
    go = golang.find_go(ctx.system)
    log_file = ctx.log_file(workdir.name)
    env = {**golang.go_env(), "CGO_ENABLED": "0"}
    if module.write(workdir, go_version):
        ctx.system.run_logged([go, "mod", "tidy"], log_file, cwd=workdir, env=env)
    log.info("  go build %s (log: %s)", " ".join(packages), log_file)
    ctx.system.run_logged(
        [go, "build", "-trimpath", "-o", output, "-ldflags", ldflags, *packages],
        log_file,
        cwd=workdir,
        env=env,
        timeout=None,
    )


def build_component(ctx: Context, component: Component) -> Path:
    """The cache entry holding `component`'s binaries, built on the first call for its version."""

    def produce(scratch: Path) -> None:
        workdir = ctx.cache / "build" / f"{component.name}-{component.version}"
        log.info("  building %s %s from Go modules (minutes on a small machine)", component.name, component.version)
        if component is KUBERNETES:
            packages = [f"{KUBE_MODULE}/cmd/{c}" for c in KUBE_COMMANDS]
            go_build(
                ctx,
                kube_module(ctx),
                KUBE_GO_VERSION,
                workdir,
                packages,
                f"{scratch}/",
                kube_ldflags(component.version),
            )
        else:
            module = etcd_module(ctx) if component is ETCD else coredns_module(ctx)
            output = str(scratch / component.binaries[0])
            go_build(ctx, module, golang.local_go_version(ctx.system), workdir, ["."], output, "-s -w")
        for binary in component.binaries:
            if not (scratch / binary).is_file():
                raise BootstrapError(f"`go build` produced no {binary}", f"read {ctx.log_file(workdir.name)}")
            cache.make_executable(scratch / binary)

    return cache.publish(component.entry(ctx), produce)


def missing(ctx: Context) -> list[str]:
    """Names of the binaries whose cache entry is missing."""
    return [b for c in COMPONENTS if not cache.is_complete(c.entry(ctx)) for b in c.binaries]
