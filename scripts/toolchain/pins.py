"""The toolchain's public facts: pinned versions, the cache location, the base image, Pulumi's env.

Everything else in the bootstrap reads its versions from here, so a bump is a one-line change
(the Python SDK pins themselves live in pyproject.toml and are read from there).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from toolchain.versions import pep440_to_semver

REPO_ROOT = Path(__file__).resolve().parents[2]

# The CLI may be newer than the Python SDK (3.272.0): the engine protocol is backwards compatible,
# and 3.274.1 is the oldest CLI release whose Go modules the module proxy serves.
PULUMI_VERSION = "3.274.1"

# A Python SDK release maps to the Go module version of the same commit. Pre-releases of
# pulumi-kubernetes only exist as pseudo-versions in the module proxy; the alpha suffix of the
# PyPI version is the commit's Unix time (2026-01-15 03:34:56 UTC for the entry below).
KUBERNETES_GO_MODULES: dict[str, str] = {
    "4.25.0a1768448096": "v4.0.0-20260115033456-f47bc2d6f199",
}

ACTIONLINT_VERSION = "v1.7.12"
UV_VERSION = "0.13.9"
"""uv, from PyPI into a venv of its own in the cache: it installs the project venv from constraints.txt in seconds
where pip takes minutes (pip stays the fallback)."""

# The h1: hash of every Go module the bootstrap builds a tool from, by `module@version`: a module whose
# download hashes differently is refused (toolchain.golang.module_source), and so is one with no line here.
# A value is what `go mod download -json MODULE@VERSION` prints as "Sum", checked against the Go checksum
# database (`$GOPROXY/sumdb/sum.golang.org/lookup/MODULE@VERSION`), which vouches for it as well. Their own
# dependencies are checked by that database when `go mod tidy` resolves them.
GO_MODULE_SUMS: dict[str, str] = {
    "github.com/pulumi/pulumi/pkg/v3@v3.274.1": "h1:XYyUwBMf1bCA0bnvL4MfgX96qr38ezcNnXXbXavw9Fo=",
    "github.com/pulumi/pulumi/sdk/v3@v3.274.1": "h1:Sy2OifRLCPVmFMDTkp18yRk/YviwhJuGZU6vfLwruPM=",
    "github.com/pulumi/pulumi-kubernetes/provider/v4@v4.0.0-20260115033456-f47bc2d6f199": (
        "h1:j2bphCf7c2YhnBrhwht2f3TNRRgcMImltUlAgzxr9H4="
    ),
    "k8s.io/kubernetes@v1.34.4": "h1:Yy6R4QB8C9kJPp25GFqEvX5XQwY5qzKeqD0Xx6oAcmk=",
    "go.etcd.io/etcd/server/v3@v3.6.16": "h1:sLkpvz3RFtiNd/yPrZBKz5kT+XO1ZJkhmuUJeqc7OmA=",
    "github.com/coredns/coredns@v1.14.0": "h1:fjrQlxEoONeIcviXyyPXtNbxLspBj8I35TJthmtiuN4=",
    "github.com/rhysd/actionlint@v1.7.12": "h1:vQ4GeJN86C0QH+gTUQcs8McmK62OLT3kmakPMtEWYnY=",
}

# sha256 of downloaded archives, by file name. A pinned value wins over the publisher's checksums file;
# an archive that neither names is not used (see toolchain.checksums). Add a line when its value is
# taken from the publisher's release page: a value nobody has seen would only make every download fail.
ARCHIVE_SHA256: dict[str, str] = {}

BASE_IMAGE = "mlops-base:bookworm-py311"
BASE_IMAGE_UPSTREAM = "python:3.11-slim-bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
"""Used only when apt's own sources name no mirror for the suite (see toolchain.apt.debian_mirror)."""
DEBIAN_SUITE = "bookworm"
BASE_IMAGE_PACKAGES = ("python3", "python3-venv", "ca-certificates")

APT_PACKAGES = ("docker.io", "debootstrap")

DOWNLOAD_TIMEOUT_S = 4.0

# The local single-node Kubernetes cluster (`mlops cluster up`). 1.35+ refuses cgroup v1 unless told
# otherwise; these VMs are cgroup v1. The staging repos (k8s.io/api, ...) carry the 0.x twin version.
KUBERNETES_VERSION = "v1.34.4"
KUBERNETES_STAGING_VERSION = "v0.34.4"
ETCD_VERSION = "v3.6.16"
COREDNS_VERSION = "v1.14.0"
CLUSTER_APT_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    "socat",
    "ethtool",
    "openssl",
)


def cache_dir() -> Path:
    """Where built and downloaded tools live: outside the clone, so a fresh CI checkout reuses them."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlops-platform" / "toolchain"


def pulumi_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Pulumi invocation needs: offline, quiet, no surprise plugin downloads."""
    env = dict(os.environ if base is None else base)
    env["PULUMI_SKIP_UPDATE_CHECK"] = "1"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "1"
    return env


def python_pins(pyproject: Path | None = None) -> dict[str, str]:
    """Exact `name==version` pins of the project's dependencies, read from pyproject.toml."""
    path = pyproject or REPO_ROOT / "pyproject.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    for requirement in data.get("project", {}).get("dependencies", []):
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;,]+)\s*", requirement)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def kubernetes_pin(pyproject: Path | None = None) -> str:
    """The pinned pulumi-kubernetes Python version; the plugin must be exactly this release."""
    pins = python_pins(pyproject)
    if "pulumi-kubernetes" not in pins:
        raise KeyError(
            "pyproject.toml has no exact pin `pulumi-kubernetes==X`: the plugin version is derived "
            "from it, so pin it with `==`."
        )
    return pins["pulumi-kubernetes"]


def kubernetes_plugin_version(pyproject: Path | None = None) -> str:
    """The plugin's semver (what `pulumi plugin ls` shows) for the pinned Python package."""
    return pep440_to_semver(kubernetes_pin(pyproject))
