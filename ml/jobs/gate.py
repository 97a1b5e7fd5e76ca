"""The job gate of a docker stack that retrains from its schedule: it starts one kind of container, nothing else.

The scheduler container reads the prediction log the serving replicas write, so it must not hold the Docker
engine's socket (whoever holds it is root on the host). The gate holds it, reads no log, and answers on the stack
network only (`ml.jobs.gate_server`), to callers that show the stack's token:

- `POST /jobs {"model", "name", "files"}` starts a retraining container of `model`: `mlops train`'s container
  (`mlops.jobs.docker`) from the stack's training job spec, which the gate reads from its own setup, never from
  the request: the stack's trainer image, network, limits, non-root user, read-only root filesystem, no
  capabilities, `python -m ml.train` with the job's files. The request brings only those files (training config,
  dataset spec, job context: names fixed, sizes bounded) and a name that must be this stack's job name of the
  model. 409 while a retrain of the model runs.
- `GET /jobs?model=M`: the model's retraining containers still running. `GET /jobs/NAME`: `{"state"}`, `Complete`
  or `Failed` once it ended, null while it runs.

The files and the tracking login go into volumes of the job's own (root-owned, mode 0444; the password 0400
owned by the job's user), since the gate knows no host path; the job's container, scratch and file volumes are
removed once it ended, its state kept for the scheduler to read and its last log lines in the gate's log.
"""

from __future__ import annotations

import io
import json
import logging
import re
import tarfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract import TRACKING_PASSWORD_FILE, TRACKING_PASSWORD_FILE_ENV, TRACKING_USERNAME_ENV, monitor_env
from ml.jobs.engine_api import EngineApi, EngineError
from ml.jobs.request import (
    CONFIG_FILE,
    CONTEXT_FILE,
    JOB_DIR,
    SCRATCH_DIR,
    SECRETS_DIR,
    SPEC_FILE,
    TMPFS,
    job_args,
    scratch_env,
)
from ml.jobs.scheduled import COMPLETE, FAILED, LABEL_RETRAIN_OF, model_label
from ml.jobs.spec import LABEL_JOB, JobSpecError, TrainingJobSpec, job_labels

log = logging.getLogger(__name__)

JOB_FILES = (CONFIG_FILE, SPEC_FILE, CONTEXT_FILE)
MAX_FILE_BYTES = 1 << 20
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,127}")
LOG_TAIL = 20


class GateRefused(ValueError):
    """A request the gate does not carry out; the message says why (the HTTP status is `status`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def container_body(spec: TrainingJobSpec, name: str, model: str, login_user: str | None) -> dict[str, Any]:
    """The Engine API body of one retraining container (what the unit tests check against `mlops train`'s)."""
    memory = spec.limits.memory_mb * 1024 * 1024
    env = scratch_env()
    mounts = [
        {"Type": "volume", "Source": f"{name}-scratch", "Target": SCRATCH_DIR},
        {"Type": "volume", "Source": f"{name}-files", "Target": JOB_DIR},
    ]
    if login_user is not None:
        env[TRACKING_USERNAME_ENV] = login_user
        env[TRACKING_PASSWORD_FILE_ENV] = f"{SECRETS_DIR}/{TRACKING_PASSWORD_FILE}"
        mounts.append({"Type": "volume", "Source": f"{name}-secrets", "Target": SECRETS_DIR})
    return {
        "Image": spec.image,
        "Cmd": job_args(spec, None),
        "User": spec.user,
        "Labels": {**job_labels(spec, name), LABEL_RETRAIN_OF: model_label(model)},
        "Env": [f"{k}={v}" for k, v in env.items()],
        "WorkingDir": SCRATCH_DIR,
        "HostConfig": {
            "NetworkMode": spec.network,
            "NanoCpus": round(spec.limits.cpus * 1e9),
            "Memory": memory,
            "MemorySwap": memory,
            "ReadonlyRootfs": True,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "Tmpfs": dict(TMPFS),
            "Mounts": mounts,
        },
    }


def _tar(files: Mapping[str, bytes], uid: int, gid: int, mode: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for file_name, data in sorted(files.items()):
            info = tarfile.TarInfo(file_name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Gate:
    """What the gate does, apart from HTTP: start, watch and report the stack's retraining containers."""

    spec: TrainingJobSpec
    engine: EngineApi
    login: tuple[str, str] | None = None
    states: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], engine: EngineApi | None = None) -> Gate:
        setup = json.loads(Path(environ[monitor_env.GATE_SETUP_ENV]).read_text())
        spec = TrainingJobSpec.from_output(str(setup.get("environment") or ""), setup.get("training"))
        if spec.kubernetes is not None:
            raise JobSpecError(f"environment '{spec.environment}' trains on kubernetes: its CronJob starts Jobs")
        login = None
        if environ.get(TRACKING_USERNAME_ENV) and environ.get(TRACKING_PASSWORD_FILE_ENV):
            password = Path(environ[TRACKING_PASSWORD_FILE_ENV]).read_text().strip()
            login = (environ[TRACKING_USERNAME_ENV], password)
        return cls(spec, engine or EngineApi(), login)

    def _ours(self, model: str | None = None) -> dict[str, str]:
        labels = {k: v for k, v in job_labels(self.spec, "").items() if k != LABEL_JOB}
        return {**labels, **({LABEL_RETRAIN_OF: model_label(model)} if model else {})}

    def running(self, model: str) -> list[str]:
        found = self.engine.containers(self._ours(model), running_only=True)
        return sorted(c["Labels"][LABEL_JOB] for c in found if LABEL_JOB in c.get("Labels", {}))

    def state(self, name: str) -> str | None:
        with self.lock:
            if name in self.states:
                return self.states[name]
        try:
            self.engine.call("GET", f"/containers/{name}/json")
        except EngineError as exc:
            if exc.status == 404:
                raise GateRefused(404, f"no job {name} was started by this gate") from exc
            raise
        return None

    def _check(self, model: Any, name: Any, files: Any) -> dict[str, bytes]:
        if not isinstance(model, str) or not model.strip():
            raise GateRefused(400, "`model` must name the model to retrain")
        prefix = f"{self.spec.network}-train-"
        if not isinstance(name, str) or not _NAME.fullmatch(name) or not name.startswith(prefix):
            raise GateRefused(400, f"`name` must be this stack's job name, {prefix}<model>-<hex>")
        if not isinstance(files, Mapping) or sorted(files) != sorted(JOB_FILES):
            raise GateRefused(400, f"`files` must hold exactly {', '.join(JOB_FILES)}")
        encoded = {k: str(v).encode() for k, v in files.items()}
        too_big = [k for k, v in encoded.items() if len(v) > MAX_FILE_BYTES]
        if too_big:
            raise GateRefused(413, f"{', '.join(too_big)} larger than {MAX_FILE_BYTES} bytes")
        return encoded

    def start(self, model: Any, name: Any, files: Any) -> None:
        encoded = self._check(model, name, files)
        with self.lock:
            running = self.running(model)
            if running:
                raise GateRefused(409, f"a retrain of {model} still runs: {running[0]}")
            labels = {**job_labels(self.spec, name), LABEL_RETRAIN_OF: model_label(model)}
            for suffix in ("scratch", "files", *(("secrets",) if self.login else ())):
                self.engine.call("POST", "/volumes/create", body={"Name": f"{name}-{suffix}", "Labels": labels})
            body = container_body(self.spec, name, model, self.login[0] if self.login else None)
            try:
                self.engine.call("POST", "/containers/create", body=body, name=name)
                self.engine.call(
                    "PUT",
                    f"/containers/{name}/archive",
                    raw=_tar(encoded, 0, 0, 0o444),
                    content_type="application/x-tar",
                    path=JOB_DIR,
                )
                if self.login is not None:
                    uid, _, gid = self.spec.user.partition(":")
                    secret = _tar({TRACKING_PASSWORD_FILE: self.login[1].encode()}, int(uid), int(gid or uid), 0o400)
                    self.engine.call(
                        "PUT",
                        f"/containers/{name}/archive",
                        raw=secret,
                        content_type="application/x-tar",
                        path=SECRETS_DIR,
                    )
                self.engine.call("POST", f"/containers/{name}/start")
            except EngineError:
                self._remove(name)
                raise
        log.info("started retraining container %s of %s", name, model)
        threading.Thread(target=self.watch, args=(name,), name=f"watch-{name}", daemon=True).start()

    def watch(self, name: str) -> str:
        """Wait for the container to end, keep its state and last lines, remove it; the state."""
        try:
            waited = self.engine.call("POST", f"/containers/{name}/wait", wait=True) or {}
            code = int(waited.get("StatusCode", -1))
            inspected = self.engine.call("GET", f"/containers/{name}/json")
            oom = bool(inspected.get("State", {}).get("OOMKilled"))
            tail = self.engine.logs(name, LOG_TAIL)
            state = COMPLETE if code == 0 else FAILED
            level = logging.INFO if code == 0 else logging.ERROR
            log.log(
                level,
                "job %s ended with exit code %d%s; its last lines:\n%s",
                name,
                code,
                " (OOMKilled)" if oom else "",
                tail.rstrip(),
            )
        except (EngineError, OSError, ValueError) as exc:
            log.error("job %s: its end could not be read (%s)", name, exc)
            state = FAILED
        with self.lock:
            self.states[name] = state
        self._remove(name)
        return state

    def _remove(self, name: str) -> None:
        try:
            self.engine.remove_container(name)
            for suffix in ("scratch", "files", "secrets"):
                self.engine.remove_volume(f"{name}-{suffix}")
        except (EngineError, OSError) as exc:
            log.error("job %s could not be removed (%s): `mlops env down` removes it with the stack", name, exc)

    def adopt(self) -> None:
        """At start: watch the retraining containers a previous gate started (running, or ended meanwhile); never
        a job of `mlops train`, whose operator removes it."""
        for found in self.engine.containers(self._ours()):
            labels = found.get("Labels", {})
            name = labels.get(LABEL_JOB)
            if name and LABEL_RETRAIN_OF in labels:
                threading.Thread(target=self.watch, args=(name,), name=f"watch-{name}", daemon=True).start()
