"""The docker job gate (`ml.jobs.gate`): what it starts, what it refuses, and the scheduler's client of it.

The gate's HTTP server and the scheduler's client (`ml.jobs.gate_client.GateJobs`) talk for real on loopback. The
Docker engine behind the gate is an in-memory stand-in here, which records each call; the last test drives the real
engine, and `tests/e2e/test_loop_on_docker.py` the whole loop through a stack's gate.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import monitor_env
from ml.jobs import gate as gate_module
from ml.jobs import gate_server
from ml.jobs.engine_api import EngineApi, EngineError
from ml.jobs.gate import Gate, container_body
from ml.jobs.gate_client import GateError, GateJobs
from ml.jobs.request import JobRequest, job_args
from ml.jobs.scheduled import LABEL_RETRAIN_OF, RetrainSetup
from ml.jobs.spec import LABEL_JOB, JobSpecError, TrainingJobSpec, job_labels
from mlops.jobs.docker import container_kwargs
from tests.mlops.jobs.test_docker_spec import OUTPUT

TOKEN = "gate-token-of-the-stack"
NAME = "mlops-local-train-breast-cancer-abcd1234"
FILES = {
    "train.yaml": "model_name: breast-cancer\n",
    "dataset.yaml": "uri: sklearn://breast_cancer\n",
    "job.json": "{}",
}


def _spec() -> TrainingJobSpec:
    return TrainingJobSpec.from_output("local", OUTPUT)


class Engine:
    """The Engine API calls the gate makes, in memory: containers by name, volumes, archives, exit codes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.containers_by_name: dict[str, dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, str]] = {}
        self.archives: dict[tuple[str, str], list[tarfile.TarInfo]] = {}
        self.exit_code = 0
        self.ended = threading.Event()

    def call(self, method: str, endpoint: str, *, body: Any = None, raw: bytes | None = None, **query: Any) -> Any:
        self.calls.append((method, endpoint))
        if endpoint == "/volumes/create":
            self.volumes[body["Name"]] = body["Labels"]
            return {}
        if endpoint == "/containers/create":
            self.containers_by_name[query["name"]] = {**body, "running": False}
            return {"Id": query["name"]}
        name = endpoint.split("/")[2]
        if name not in self.containers_by_name:
            raise EngineError(404, f"No such container: {name}")
        container = self.containers_by_name[name]
        if endpoint.endswith("/archive"):
            with tarfile.open(fileobj=io.BytesIO(raw or b"")) as archive:
                self.archives[(name, query["path"])] = archive.getmembers()
            return None
        if endpoint.endswith("/start"):
            container["running"] = True
            return None
        if endpoint.endswith("/wait"):
            self.ended.wait(10)
            container["running"] = False
            return {"StatusCode": self.exit_code}
        return {"State": {"OOMKilled": False, "Running": container["running"]}}

    def logs(self, name: str, tail: int) -> str:
        return "the job's last line\n"

    def containers(self, labels: dict[str, str], *, running_only: bool = False) -> list[dict[str, Any]]:
        return [
            {"Labels": c["Labels"]}
            for c in self.containers_by_name.values()
            if labels.items() <= c["Labels"].items() and (c["running"] or not running_only)
        ]

    def remove_container(self, name: str) -> None:
        self.containers_by_name.pop(name, None)

    def remove_volume(self, name: str) -> None:
        self.volumes.pop(name, None)


@pytest.fixture
def engine() -> Engine:
    return Engine()


@pytest.fixture
def served(engine: Engine) -> Iterator[tuple[Gate, GateJobs]]:
    gate = Gate(_spec(), engine, login=("mlops", "tracking-password"))  # type: ignore[arg-type]
    server = gate_server.serve(gate, TOKEN, port=0, host="127.0.0.1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield gate, GateJobs(url, TOKEN, poll_s=0.05, wait_s=10)
    finally:
        engine.ended.set()
        server.shutdown()
        server.server_close()


def _request(tmp_path: Path, name: str = NAME) -> JobRequest:
    for file_name, text in FILES.items():
        (tmp_path / file_name).write_text(text)
    return JobRequest(name, job_args(_spec(), None), tmp_path, job_labels(_spec(), name))


def test_the_gate_starts_the_container_mlops_train_starts_from_its_own_spec(tmp_path: Path) -> None:
    spec = _spec()
    body = container_body(spec, NAME, "breast-cancer", login_user="mlops")
    same = container_kwargs(spec, _request(tmp_path))
    host = body["HostConfig"]
    assert (body["Image"], body["Cmd"], body["User"]) == (same["image"], same["command"], same["user"])
    assert host["NetworkMode"] == same["network"] and host["NanoCpus"] == same["nano_cpus"]
    assert host["Memory"] == host["MemorySwap"] == 2048 * 1024 * 1024
    assert (host["ReadonlyRootfs"], host["CapDrop"], host["SecurityOpt"]) == (
        same["read_only"],
        same["cap_drop"],
        same["security_opt"],
    )
    assert host["Tmpfs"] == same["tmpfs"] and body["WorkingDir"] == same["working_dir"]
    env = dict(entry.split("=", 1) for entry in body["Env"])
    assert {k: env[k] for k in ("HOME", "TMPDIR", "MPLCONFIGDIR")} == {
        k: same["environment"][k] for k in ("HOME", "TMPDIR", "MPLCONFIGDIR")
    }
    assert env["MLOPS_TRACKING_PASSWORD_FILE"] == "/run/mlops-secrets/tracking-password"
    assert {m["Target"] for m in host["Mounts"]} == {"/work", "/job", "/run/mlops-secrets"}
    assert body["Labels"] == {**same["labels"], LABEL_RETRAIN_OF: "breast-cancer"}
    assert "Binds" not in host and "Privileged" not in host


def test_a_started_job_gets_its_files_root_owned_and_the_password_as_the_jobs_user(
    served: tuple[Gate, GateJobs], engine: Engine, tmp_path: Path
) -> None:
    _, client = served
    client.start(_request(tmp_path), "breast-cancer")
    files = {m.name: m for m in engine.archives[(NAME, "/job")]}
    assert sorted(files) == sorted(FILES)
    assert all((m.uid, m.gid, m.mode) == (0, 0, 0o444) for m in files.values())
    (password,) = engine.archives[(NAME, "/run/mlops-secrets")]
    assert (password.name, password.uid, password.gid, password.mode) == ("tracking-password", 10001, 10001, 0o400)
    assert set(engine.volumes) == {f"{NAME}-scratch", f"{NAME}-files", f"{NAME}-secrets"}
    assert all(labels[LABEL_JOB] == NAME for labels in engine.volumes.values())
    assert client.running("breast-cancer") == NAME and client.running("another-model") is None

    engine.ended.set()
    assert client.wait(NAME) == "Complete"
    assert engine.containers_by_name == {} and engine.volumes == {}


def test_a_failed_job_is_reported_failed_and_removed(
    served: tuple[Gate, GateJobs], engine: Engine, tmp_path: Path
) -> None:
    _, client = served
    engine.exit_code = 2
    client.start(_request(tmp_path), "breast-cancer")
    engine.ended.set()
    assert client.wait(NAME) == "Failed"
    assert engine.containers_by_name == {}


def test_a_second_retrain_of_a_model_is_refused_while_one_runs(
    served: tuple[Gate, GateJobs], engine: Engine, tmp_path: Path
) -> None:
    _, client = served
    client.start(_request(tmp_path), "breast-cancer")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(GateError, match=f"409: a retrain of breast-cancer still runs: {NAME}"):
        client.start(_request(other, NAME.replace("abcd1234", "ffff0000")), "breast-cancer")


@pytest.mark.parametrize(
    ("name", "files", "said"),
    [
        ("mlops-prod-train-breast-cancer-abcd1234", FILES, "400: `name` must be this stack's job name"),
        ("mlops-local-train-../../etc", FILES, "400: `name` must be this stack's job name"),
        (NAME, {**FILES, "entrypoint.sh": "rm -rf /"}, "400: `files` must hold exactly"),
        (NAME, {"train.yaml": "x"}, "400: `files` must hold exactly"),
        (NAME, {**FILES, "train.yaml": "x" * (2 << 20)}, "413: train.yaml larger than"),
    ],
)
def test_the_gate_refuses_what_is_not_this_stacks_retrain(
    served: tuple[Gate, GateJobs], engine: Engine, name: str, files: dict[str, str], said: str
) -> None:
    _, client = served
    with pytest.raises(GateError, match=said):
        client._call("POST", "/jobs", {"model": "breast-cancer", "name": name, "files": files})
    assert engine.calls == []


def test_a_caller_without_the_token_is_refused_and_starts_nothing(
    served: tuple[Gate, GateJobs], engine: Engine, tmp_path: Path
) -> None:
    _, client = served
    for token in ("", "not-the-token"):
        with pytest.raises(GateError, match="401: show the stack's gate token"):
            GateJobs(client.url, token).start(_request(tmp_path), "breast-cancer")
    assert engine.calls == []


def test_a_restarted_gate_watches_its_own_jobs_and_leaves_mlops_trains_alone(engine: Engine) -> None:
    spec = _spec()
    ours = container_body(spec, NAME, "breast-cancer", login_user=None)
    operators = container_body(spec, "mlops-local-train-by-hand-0000", "x", login_user=None)
    operators["Labels"].pop(LABEL_RETRAIN_OF)
    for body in (ours, operators):
        engine.containers_by_name[body["Labels"][LABEL_JOB]] = {**body, "running": False}
    engine.exit_code = 1
    engine.ended.set()
    gate = Gate(spec, engine)  # type: ignore[arg-type]
    gate.adopt()
    deadline = time.monotonic() + 10
    while NAME not in gate.states and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gate.states == {NAME: "Failed"}
    assert set(engine.containers_by_name) == {"mlops-local-train-by-hand-0000"}


def test_a_job_the_gate_never_started_is_unknown(served: tuple[Gate, GateJobs]) -> None:
    _, client = served
    with pytest.raises(GateError, match="404: no job mlops-local-train-x-1 was started by this gate"):
        client.wait("mlops-local-train-x-1")


def test_a_job_the_gate_does_not_see_end_times_out(engine: Engine) -> None:
    now = [0.0]
    client = GateJobs(
        "http://gate", TOKEN, wait_s=30, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    client._call = lambda method, path, body=None: {"state": None}  # type: ignore[method-assign]
    assert client.wait(NAME) == "TimedOut" and now[0] >= 30


def test_the_retrain_setup_of_a_docker_stack_names_its_gate_and_token(tmp_path: Path) -> None:
    setup = {"environment": "local", "training": OUTPUT}
    (tmp_path / monitor_env.RETRAIN_SETUP_FILE).write_text(json.dumps(setup))
    for name in (monitor_env.RETRAIN_TRAIN_CONFIG, monitor_env.RETRAIN_DATASET_SPEC):
        (tmp_path / name).write_text("x")
    with pytest.raises(JobSpecError, match="trains on docker and names no job gate"):
        RetrainSetup.load(tmp_path)
    setup[monitor_env.GATE_KEY] = "http://mlops-local-jobs:8780"
    (tmp_path / monitor_env.RETRAIN_SETUP_FILE).write_text(json.dumps(setup))
    with pytest.raises(JobSpecError, match="lacks gate-token"):
        RetrainSetup.load(tmp_path)
    (tmp_path / monitor_env.RETRAIN_GATE_TOKEN).write_text(TOKEN + "\n")
    runner = RetrainSetup.load(tmp_path).runner()
    assert isinstance(runner, GateJobs) and (runner.url, runner.token) == ("http://mlops-local-jobs:8780", TOKEN)


@pytest.mark.integration
def test_the_gate_runs_a_real_training_container_and_removes_what_it_made(docker_stack: Any, tmp_path: Path) -> None:
    """The real engine, the real trainer image and an MLflow server on the stack's network: the container the gate
    starts trains, registers its version with the job's name, and is removed with its volumes."""
    import docker
    from mlflow import MlflowClient

    from ml.jobs.request import write_job_files
    from ml.jobs.spec import job_context_json, job_name, job_tags
    from tests.support.names import unique_model_name
    from tests.support.paths import EXAMPLES

    spec = TrainingJobSpec.from_output(docker_stack.name, docker_stack.training_output())
    model = unique_model_name("gate")
    config = tmp_path / "train.yaml"
    config.write_text((EXAMPLES / "breast_cancer" / "train.yaml").read_text().replace("breast-cancer", model))
    name = job_name(spec, model)
    files = tmp_path / "files"
    files.mkdir()
    write_job_files(
        files, config, EXAMPLES / "breast_cancer" / "dataset.yaml", job_context_json(job_tags(spec, name), "abc", False)
    )
    gate = Gate(spec, EngineApi())
    gate.engine.ping()
    gate.start(model, name, {path.name: path.read_text() for path in files.iterdir()})
    client = docker.from_env()
    assert client.containers.get(name).labels[LABEL_RETRAIN_OF] == gate_module.model_label(model)
    assert gate.running(model) == [name]
    deadline = time.monotonic() + 300
    while gate.state(name) is None and time.monotonic() < deadline:
        time.sleep(1)
    assert gate.state(name) == "Complete"
    (version,) = MlflowClient(docker_stack.tracking_uri, docker_stack.tracking_uri).search_model_versions(
        f"name = '{model}'"
    )
    assert version.tags["job.name"] == name and version.tags["job.image"] == spec.image
    assert client.containers.list(all=True, filters={"name": name}) == []
    assert [v.name for v in client.volumes.list() if v.name.startswith(name)] == []
