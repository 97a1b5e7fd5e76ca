"""The `cluster` step: everything `mlops cluster up` runs, built or installed, nothing started.

- Kubernetes, etcd and CoreDNS binaries from Go modules (kube_binaries), cached by version;
- Debian's containerd, runc, CNI plugins, iptables, conntrack, socat, ethtool, openssl;
- the pause image (a static C program in a one-layer `docker save` tarball), cached by content,
  and CoreDNS's image (its static binary alone), cached by version.

The operator side finds it all through one file, `<cache>/cluster/current.json`, and the links in
`<cache>/cluster/bin/`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
from pathlib import Path

from toolchain import apt, cache, kube_binaries, pins
from toolchain.context import Context, host_platform
from toolchain.system import BootstrapError

log = logging.getLogger("bootstrap")

PAUSE_BUILD_PACKAGES = ("gcc", "libc6-dev")
PAUSE_C = b"""/* The pod sandbox's process: holds the namespaces, reaps orphans, exits on INT/TERM. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void down(int signo) { (void)signo; _exit(0); }
static void reap(int signo) { (void)signo; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction on_down = {.sa_handler = down};
    struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
    if (getpid() != 1) fprintf(stderr, "pause: warning: not pid 1\\n");
    if (sigaction(SIGINT, &on_down, NULL) || sigaction(SIGTERM, &on_down, NULL) ||
        sigaction(SIGCHLD, &on_child, NULL)) return 1;
    for (;;) pause();
}
"""


def cluster_dir(ctx: Context) -> Path:
    return ctx.cache / "cluster"


def manifest_path(ctx: Context) -> Path:
    return cluster_dir(ctx) / "current.json"


def pause_key() -> str:
    return hashlib.sha256(PAUSE_C).hexdigest()[:12]


def pause_tag() -> str:
    # Never `:latest`: the kubelet would then try to pull it on every pod start.
    return f"localhost/mlops/pause:{pause_key()}"


def _tar_bytes(members: dict[str, tuple[bytes, int]]) -> bytes:
    """A reproducible tar: fixed owner and mtime, so the same inputs give the same digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def image_tarball(files: dict[str, tuple[bytes, int]], tag: str, entrypoint: list[str], arch: str) -> bytes:
    """A `docker save` tarball of one layer holding `files`, which `ctr images import` accepts."""
    layer = _tar_bytes(files)
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created_by": "mlops bootstrap", "created": "1970-01-01T00:00:00Z"}],
        "created": "1970-01-01T00:00:00Z",
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    repo, _, version = tag.rpartition(":")
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{layer_digest}/layer.tar"]}]
    return _tar_bytes(
        {
            f"{layer_digest}/VERSION": (b"1.0", 0o644),
            f"{layer_digest}/layer.tar": (layer, 0o644),
            config_name: (config_bytes, 0o644),
            "manifest.json": (json.dumps(manifest).encode(), 0o644),
            "repositories": (json.dumps({repo: {version: layer_digest}}).encode(), 0o644),
        }
    )


def coredns_tag() -> str:
    return f"localhost/mlops/coredns:{pins.COREDNS_VERSION}"


def coredns_image(ctx: Context, binary: Path) -> Path:
    """CoreDNS's image: the static binary alone (it listens on an unprivileged port, as a non-root user)."""
    entry = cluster_dir(ctx) / f"coredns-image-{pins.COREDNS_VERSION}"

    def produce(scratch: Path) -> None:
        files = {"coredns": (binary.read_bytes(), 0o755)}
        tarball = image_tarball(files, coredns_tag(), ["/coredns"], host_platform()[1])
        (scratch / "coredns.tar").write_bytes(tarball)

    return cache.publish(entry, produce) / "coredns.tar"


def pause_image(ctx: Context) -> Path:
    """The cached pause image tarball, compiled once per source version."""
    entry = cluster_dir(ctx) / f"pause-{pause_key()}"

    def produce(scratch: Path) -> None:
        if ctx.system.which("gcc") is None or apt.missing(ctx, ["libc6-dev"]):
            apt.ensure(ctx, PAUSE_BUILD_PACKAGES, "the pause image is a static C program")
        gcc = ctx.system.which("gcc")
        if gcc is None:
            raise BootstrapError("no gcc on PATH to compile the pause image", "install gcc and libc6-dev")
        (scratch / "pause.c").write_bytes(PAUSE_C)
        ctx.system.run([gcc, "-Os", "-static", "-s", "-o", scratch / "pause", scratch / "pause.c"], timeout=120)
        files = {"pause": ((scratch / "pause").read_bytes(), 0o755)}
        tarball = image_tarball(files, pause_tag(), ["/pause"], host_platform()[1])
        (scratch / "pause.tar").write_bytes(tarball)

    return cache.publish(entry, produce) / "pause.tar"


def _binaries(ctx: Context) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for component in kube_binaries.COMPONENTS:
        entry = kube_binaries.build_component(ctx, component)
        found.update({name: entry / name for name in component.binaries})
    return found


def write_manifest(ctx: Context, binaries: dict[str, Path], images: dict[str, tuple[str, Path]]) -> Path:
    """Link the binaries into `<cache>/cluster/bin` and describe them in current.json."""
    bin_dir = cluster_dir(ctx) / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in binaries.items():
        cache.link(target, bin_dir / name)
    manifest = {
        "kubernetes_version": pins.KUBERNETES_VERSION,
        "etcd_version": pins.ETCD_VERSION,
        "coredns_version": pins.COREDNS_VERSION,
        "bin_dir": str(bin_dir),
        "binaries": {name: str(path) for name, path in sorted(binaries.items())},
        "images": {name: {"tag": tag, "tarball": str(path)} for name, (tag, path) in sorted(images.items())},
    }
    path = manifest_path(ctx)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def run(ctx: Context) -> str:
    installed = apt.ensure(ctx, pins.CLUSTER_APT_PACKAGES, "the local cluster's runtime, network and tools")
    binaries = _binaries(ctx)
    images = {
        "pause": (pause_tag(), pause_image(ctx)),
        "coredns": (coredns_tag(), coredns_image(ctx, binaries["coredns"])),
    }
    path = write_manifest(ctx, binaries, images)
    if ctx.venv_bin.is_dir():
        cache.link(binaries["kubectl"], ctx.venv_bin / "kubectl")
    extra = f"; installed {', '.join(installed)}" if installed else ""
    versions = f"Kubernetes {pins.KUBERNETES_VERSION}, etcd {pins.ETCD_VERSION}, CoreDNS {pins.COREDNS_VERSION}"
    return f"{versions} in {path}{extra}"


def check(ctx: Context) -> str:
    problems = []
    absent = kube_binaries.missing(ctx)
    if absent:
        problems.append(f"binaries not built: {', '.join(absent)}")
    packages = apt.missing(ctx, pins.CLUSTER_APT_PACKAGES)
    if packages:
        problems.append(f"packages not installed: {', '.join(packages)}")
    if not cache.is_complete(cluster_dir(ctx) / f"pause-{pause_key()}"):
        problems.append("pause image not built")
    if not cache.is_complete(cluster_dir(ctx) / f"coredns-image-{pins.COREDNS_VERSION}"):
        problems.append("CoreDNS image not built")
    if not manifest_path(ctx).is_file():
        problems.append(f"{manifest_path(ctx)} missing")
    if problems:
        raise BootstrapError("; ".join(problems), "run `python3 scripts/bootstrap.py --steps cluster`")
    return f"cluster binaries, packages and pause image ready ({manifest_path(ctx)})"
