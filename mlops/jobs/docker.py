"""Training jobs on the docker target: one container per job, from the stack's trainer image.

The container gets the stack's network (it reaches the tracking server by name), CPU and memory limits
(swap off, so the memory limit is real), labels, non-root user, a read-only root filesystem with no
capabilities, a labelled scratch volume at /work (HOME and TMPDIR: downloads and model files can be
large) and a small tmpfs at /tmp. Its files come in read-only at /job. The container and its volume
are removed however the job ends, Ctrl-C and SIGTERM included. A search's trials are one container each,
at most the config's `search.parallelism` at once.
"""

from __future__ import annotations

import codecs
import logging
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import suppress
from dataclasses import replace
from typing import Any

from ml.jobs.request import JOB_DIR, SCRATCH_DIR, SECRETS_DIR, TMPFS, scratch_env
from ml.jobs.spec import LABEL_JOB, TrainingJobSpec
from mlops.jobs.launcher import (
    TAIL_LINES,
    TRIAL_INDEX_ENV,
    JobFailedToStart,
    JobRequest,
    JobResult,
    LogSink,
    TrialsResult,
)
from mlops.jobs.signals import sigterm_as_interrupt, uninterruptible

log = logging.getLogger(__name__)

INTERRUPTED_EXIT = 130


def scratch_volume_name(request: JobRequest | str) -> str:
    """The job's scratch volume, by its request or its name."""
    return f"{request if isinstance(request, str) else request.name}-scratch"


def container_kwargs(spec: TrainingJobSpec, request: JobRequest) -> dict[str, Any]:
    """The `docker.containers.create` arguments of one job (pure: what the unit tests check)."""
    memory = f"{spec.limits.memory_mb}m"
    return {
        "image": spec.image,
        "command": list(request.args),
        "name": request.name,
        "user": spec.user,
        "labels": dict(request.labels),
        "network": spec.network,
        "nano_cpus": round(spec.limits.cpus * 1e9),
        "mem_limit": memory,
        "memswap_limit": memory,
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "tmpfs": dict(TMPFS),
        "volumes": {
            scratch_volume_name(request): {"bind": SCRATCH_DIR, "mode": "rw"},
            str(request.files): {"bind": JOB_DIR, "mode": "ro"},
            **{
                str(path): {"bind": f"{SECRETS_DIR}/{name}", "mode": "ro"}
                for name, path in request.secret_files.items()
            },
        },
        "working_dir": SCRATCH_DIR,
        "environment": {
            **scratch_env(),
            **request.env,
        },
        "detach": True,
    }


class DockerLauncher:
    """`JobLauncher` for the docker target, over the Docker Engine API."""

    def __init__(self, client: Any | None = None) -> None:
        if client is None:
            import docker

            try:
                client = docker.from_env()
                client.ping()
            except docker.errors.DockerException as exc:
                raise JobFailedToStart(f"no Docker engine answers ({exc}); start it (`dockerd`) and retry") from exc
        self.client = client

    def preflight(self, spec: TrainingJobSpec) -> None:
        import docker.errors

        try:
            self.client.images.get(spec.image)
        except docker.errors.ImageNotFound as exc:
            raise JobFailedToStart(
                f"the trainer image {spec.image} does not exist on this Docker engine: run "
                f"`mlops env up {spec.environment}` to build it"
            ) from exc
        try:
            self.client.networks.get(spec.network)
        except docker.errors.NotFound as exc:
            raise JobFailedToStart(
                f"the network {spec.network} of environment '{spec.environment}' does not exist: is it up? "
                f"Run `mlops env up {spec.environment}`"
            ) from exc

    def run(self, spec: TrainingJobSpec, request: JobRequest, sink: LogSink) -> JobResult:
        import docker.errors

        tail: deque[str] = deque(maxlen=TAIL_LINES)
        container = None
        volume = self.client.volumes.create(scratch_volume_name(request), labels=dict(request.labels))
        try:
            with sigterm_as_interrupt():
                try:
                    container = self.client.containers.create(**container_kwargs(spec, request))
                    container.start()
                    log.debug("job %s started", request.name)
                except docker.errors.APIError as exc:
                    raise JobFailedToStart(
                        f"the Docker engine refused job {request.name}: {exc.explanation or exc}"
                    ) from exc
                _stream(container.logs(stream=True, follow=True, stdout=False, stderr=True), sink, tail)
                exit_code = int(container.wait().get("StatusCode", -1))
                log.debug("job %s exited with %d", request.name, exit_code)
            stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
            container.reload()
            state = container.attrs.get("State", {})
            reason = "OOMKilled" if state.get("OOMKilled") else None
            return JobResult(request.name, exit_code, stdout, list(tail), reason)
        except KeyboardInterrupt:
            return JobResult(request.name, INTERRUPTED_EXIT, "", list(tail), "interrupted", interrupted=True)
        finally:
            with uninterruptible():
                self._remove(container, volume)
            log.debug("job %s removed", request.name)

    def run_trials(
        self, spec: TrainingJobSpec, request: JobRequest, trials: int, parallelism: int, sink: LogSink
    ) -> TrialsResult:
        """One container per trial (`<name>-<number>`, told its index in TRIAL_INDEX_ENV), at most
        `parallelism` at once; Ctrl-C removes the running ones and starts no other."""
        stop, lock = threading.Event(), threading.Lock()
        names = [f"{request.name}-{index + 1}" for index in range(trials)]

        def one(index: int) -> JobResult | None:
            if stop.is_set():
                return None
            env = {**request.env, TRIAL_INDEX_ENV: str(index)}
            trial = replace(request, name=names[index], env=env, labels={**request.labels, LABEL_JOB: names[index]})

            def said(line: str) -> None:
                with lock:
                    sink(f"[trial {index + 1}] {line}")

            return self.run(spec, trial, said)

        failed: dict[int, str] = {}
        with sigterm_as_interrupt(), ThreadPoolExecutor(max_workers=max(1, min(parallelism, trials))) as pool:
            futures = {pool.submit(one, index): index for index in range(trials)}
            try:
                for future in as_completed(futures):
                    index, result = futures[future], future.result()
                    if result is not None and result.exit_code != 0:
                        last = next((line for line in reversed(result.tail) if line.strip()), "")
                        why = f" ({result.reason})" if result.reason else ""
                        failed[index] = f"exit code {result.exit_code}{why}" + (f": {last}" if last else "")
            except KeyboardInterrupt:
                stop.set()
                with uninterruptible():
                    # Until every worker is done: one may have been creating its container meanwhile.
                    while not all(f.done() for f in futures):
                        self._remove_named(names)
                        time.sleep(0.2)
                    self._remove_named(names)
                return TrialsResult(request.name, failed, interrupted=True)
        return TrialsResult(request.name, failed)

    def _remove_named(self, names: list[str]) -> None:
        import docker.errors

        for name in names:
            with suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.containers.get(name).remove(force=True)
            with suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.volumes.get(scratch_volume_name(name)).remove(force=True)

    def _remove(self, container: Any, volume: Any) -> None:
        import docker.errors

        if container is not None:
            with suppress(docker.errors.NotFound):
                container.remove(force=True)
        with suppress(docker.errors.NotFound):
            volume.remove(force=True)


def _stream(chunks: Any, sink: LogSink, tail: deque[str]) -> None:
    """Pass the log on line by line as it arrives (chunks split lines and UTF-8 sequences anywhere)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *lines, pending = pending.split("\n")
        for line in lines:
            tail.append(line)
            sink(line)
    pending += decoder.decode(b"", final=True)
    if pending:
        tail.append(pending)
        sink(pending)


def stderr_sink(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
