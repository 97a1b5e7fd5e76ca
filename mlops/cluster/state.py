"""The cluster's state file: the pid of every daemon we started and every change we made to the host.

`down` undoes exactly what is recorded here, so the file is written after each change, and a change
is recorded once: a second `up` never overwrites the host's original values with ours.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DaemonRecord:
    pid: int
    start_time: int  # field 22 of /proc/PID/stat: tells our process from a later one with a reused pid
    exe: str
    log: str


@dataclass
class HostRecord:
    sysctls: dict[str, str] = field(default_factory=dict)  # name -> value before our first `up`
    modules: list[str] = field(default_factory=list)  # kernel modules we loaded
    iptables: list[list[str]] = field(default_factory=list)  # [table, chain, rule...] we inserted
    chains_before: dict[str, list[str]] = field(default_factory=dict)  # table -> chains that already existed
    bridge: str = ""  # the bridge we created, if any

    def is_empty(self) -> bool:
        return not (self.sysctls or self.modules or self.iptables or self.chains_before or self.bridge)


@dataclass
class State:
    path: Path
    daemons: dict[str, DaemonRecord] = field(default_factory=dict)
    host: HostRecord = field(default_factory=HostRecord)
    info: dict[str, Any] = field(default_factory=dict)  # ports, addresses, kubeconfig: for `status`

    @classmethod
    def load(cls, path: Path) -> State:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        daemons = {name: DaemonRecord(**record) for name, record in data.get("daemons", {}).items()}
        return cls(path, daemons, HostRecord(**data.get("host", {})), data.get("info", {}))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "daemons": {name: asdict(r) for name, r in self.daemons.items()},
            "host": asdict(self.host),
            "info": self.info,
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def is_clean(self) -> bool:
        """Nothing recorded: no daemon of ours, no host change left to undo."""
        return not self.daemons and self.host.is_empty()
