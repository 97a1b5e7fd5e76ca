"""What every step gets: where the repository, its venv and the toolchain cache are, and a System."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

from toolchain import pins
from toolchain.system import BootstrapError, System


@dataclass
class Context:
    repo: Path
    cache: Path = field(default_factory=pins.cache_dir)
    system: System = field(default_factory=System)
    download_timeout: float = pins.DOWNLOAD_TIMEOUT_S

    @property
    def venv(self) -> Path:
        return self.repo / ".venv"

    @property
    def venv_bin(self) -> Path:
        return self.venv / "bin"

    def log_file(self, name: str) -> Path:
        return self.cache / "logs" / f"{name}.log"

    def require_venv(self) -> Path:
        if not (self.venv_bin / "python").exists():
            raise BootstrapError(
                f"no virtualenv at {self.venv}: the toolchain is linked into .venv/bin",
                "run `python3 scripts/bootstrap.py --steps python` first",
            )
        return self.venv_bin


def host_platform() -> tuple[str, str]:
    """(os, arch) in Go's spelling: linux/darwin, amd64/arm64."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return system, arch
