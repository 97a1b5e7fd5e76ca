"""Benchmark `mlops serve` against `mlflow models serve` on the same registered models, on this machine.

    .venv/bin/python benchmarks/serve_bench.py [--tracking-uri URI] [--requests 2000] [--seconds 6]

Trains the breast-cancer example (logistic regression) and a 100-tree random forest on the same data through
`ml.train`, registers both on an MLflow server (a temporary one on a loopback port unless --tracking-uri is
given), then for each model starts both servers on loopback ports and drives them with a keep-alive HTTP/1.1
client: payloads of 1, 100 and 1000 rows at concurrency 1 and 8. Every cell stops after --requests requests or
--seconds seconds, whichever comes first. Prints a markdown table, then a profile of our request path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ml.mlflow_log import TRACKING_SERVER_ENV

log = logging.getLogger("serve_bench")
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAYLOAD_ROWS = (1, 100, 1000)
CONCURRENCY = (1, 8)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proc:
    """A server child process in its own session, stopped with SIGTERM and reaped."""

    def __init__(self, cmd: list[str], env: dict[str, str], logfile: Path, health: str, timeout: float = 240) -> None:
        self.logfile = logfile
        with logfile.open("wb") as out:
            self.p = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{cmd[:3]} exited: {logfile.read_text()[-2000:]}")
            try:
                if requests.get(health, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{cmd[:3]} not healthy after {timeout} s")

    def pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-s", str(self.p.pid)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(10)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (FileNotFoundError, IndexError):
            pass
    return total


@dataclass
class Cell:
    n: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.n / self.seconds

    def pct(self, q: float) -> float:
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(q * len(s)))] * 1e3


async def _conn(port: int, request: bytes, stop_at: float, budget: list[int], lat: list[float], err: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while budget[0] > 0 and time.perf_counter() < stop_at:
            budget[0] -= 1
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = None
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length is not None:
                await reader.readexactly(length)
            else:
                await _read_chunked(reader)
            lat.append(time.perf_counter() - t)
            if not head.startswith(b"HTTP/1.1 200"):
                err[0] += 1
    finally:
        writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


def drive(port: int, path: str, body: bytes, concurrency: int, requests_max: int, seconds: float) -> Cell:
    request = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def run(n: int, limit: float) -> Cell:
        lat: list[float] = []
        err = [0]
        budget = [n]
        start = time.perf_counter()
        await asyncio.gather(*(_conn(port, request, start + limit, budget, lat, err) for _ in range(concurrency)))
        return Cell(len(lat), err[0], time.perf_counter() - start, lat)

    import uvloop

    return uvloop.run(run(requests_max, seconds))


def train_models(tracking_uri: str) -> dict[str, str]:
    from ml.train import run_training
    from ml.training_config import EstimatorConfig, load_config_and_spec

    config, spec = load_config_and_spec(REPO / "examples" / "breast_cancer" / "train.yaml")
    forest = config.model_copy(
        update={
            "model_name": f"{config.model_name}-rf100",
            "estimator": EstimatorConfig(kind="random_forest", params={"n_estimators": 100}),
        }
    )
    uris = {}
    for label, cfg in (("logistic regression (example)", config), ("random forest, 100 trees", forest)):
        result = run_training(cfg, spec, tracking_uri)
        uris[label] = f"models:/{result.model_name}/{result.version}"
        log.info("registered %s as %s", label, uris[label])
    return uris


def payloads(model_uri: str, tracking_uri: str) -> tuple[dict[int, Any], Any]:
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.sklearn.load_model(model_uri)
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).astype("float64")
    frame = pd.concat([frame] * 2, ignore_index=True)
    names = [str(n) for n in model.feature_names_in_]
    return {n: frame[names].iloc[:n].reset_index(drop=True) for n in PAYLOAD_ROWS}, model


def in_process_ms(model: Any, frame: Any) -> float:
    runs = []
    for _ in range(30):
        t = time.perf_counter()
        model.predict_proba(frame)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs) * 1e3


def bench_model(label: str, uri: str, tracking_uri: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    frames, model = payloads(uri, tracking_uri)
    bodies = {n: json.dumps({"dataframe_records": f.to_dict("records")}).encode() for n, f in frames.items()}
    # `mlflow models serve` runs `uvicorn` through bash, so the venv's bin must be on PATH.
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    ours_port, mlflow_port = free_port(), free_port()
    servers = {
        "mlops serve": (
            [
                *(str(BIN / "mlops"), "serve", "--model-uri", uri, "--host", "127.0.0.1", "--port", str(ours_port)),
                *("--workers", str(args.workers), "--model-cache", str(work / "cache"), "--prediction-log", ""),
            ],
            ours_port,
            "/predict",
            "/ready",
        ),
        "mlflow models serve": (
            [
                *(str(BIN / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local"),
                *("-h", "127.0.0.1", "-p", str(mlflow_port)),
            ],
            mlflow_port,
            "/invocations",
            "/health",
        ),
    }
    results: dict[tuple[str, int, int], Cell] = {}
    cpu: dict[str, float] = {}
    for name, (cmd, port, path, health) in servers.items():
        proc = Proc(cmd, env, work / f"{name.replace(' ', '-')}-{port}.log", f"http://127.0.0.1:{port}{health}")
        try:
            if name == "mlops serve":
                _wait_all_workers(port, args.workers)
            for rows in PAYLOAD_ROWS:
                for conc in CONCURRENCY:
                    # Warm-up: connections, caches and first-call costs stay out of the numbers.
                    drive(port, path, bodies[rows], conc, max(20, conc * 5), 2.0)
                    before = cpu_seconds(proc.pids())
                    cell = drive(port, path, bodies[rows], conc, args.requests, args.seconds)
                    if rows == 1 and conc == 8:
                        cpu[name] = (cpu_seconds(proc.pids()) - before) / max(1, cell.n)
                    results[(name, rows, conc)] = cell
                    log.info(
                        "%s %s rows=%d c=%d: %.0f req/s p50 %.2f ms", label, name, rows, conc, cell.rps, cell.pct(0.5)
                    )
        finally:
            proc.stop()
    out = []
    for rows in PAYLOAD_ROWS:
        base = in_process_ms(model, frames[rows])
        for conc in CONCURRENCY:
            ours, theirs = results[("mlops serve", rows, conc)], results[("mlflow models serve", rows, conc)]
            out.append(
                {"model": label, "rows": rows, "conc": conc, "ours": ours, "mlflow": theirs, "in_process_ms": base}
            )
    log.info("server CPU per one-row request at c=8: %s", {k: f"{v * 1e3:.2f} ms" for k, v in cpu.items()})
    for row in out:
        row["cpu_ms"] = {k: v * 1e3 for k, v in cpu.items()}
    return out


def _wait_all_workers(port: int, workers: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        codes = [requests.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code for _ in range(workers * 8)]
        if all(c == 200 for c in codes):
            return
        time.sleep(0.5)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | rows | conc | mlops p50 ms | mlops p99 ms | mlops req/s | mlflow p50 ms | mlflow p99 ms "
        "| mlflow req/s | req/s ratio | in-process predict_proba ms | mlops p50 / in-process |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        o, m = r["ours"], r["mlflow"]
        errors = f" ({o.errors}/{m.errors} errors)" if o.errors or m.errors else ""
        lines.append(
            f"| {r['model']} | {r['rows']} | {r['conc']} | {o.pct(0.5):.2f} | {o.pct(0.99):.2f} | {o.rps:.0f} "
            f"| {m.pct(0.5):.2f} | {m.pct(0.99):.2f} | {m.rps:.0f} | {o.rps / m.rps:.1f}x{errors} "
            f"| {r['in_process_ms']:.2f} | {o.pct(0.5) / r['in_process_ms']:.1f}x |"
        )
    return "\n".join(lines)


def profile(uri: str, work: Path, iterations: int = 3000) -> str:
    """Where one-row request time goes inside our process: stage timings and the top of a cProfile."""
    import cProfile
    import io
    import pstats

    import orjson
    import uvloop

    from ml.serve.app import ModelServer
    from ml.serve.loader import fetch
    from ml.serve.settings import ServeSettings
    from ml.serve.state import ServerState

    settings = ServeSettings.load({"model_uri": uri, "model_cache": work / "cache", "prediction_log": ""})
    state = ServerState(settings, fetch(uri, None, settings.model_cache))
    state.load()
    app = ModelServer(settings, state)
    predictor = state.require_ready()
    frames, _ = payloads(uri, os.environ["MLFLOW_TRACKING_URI"])
    raw = json.dumps(frames[1].to_dict("records")).encode()
    scope = {"type": "http", "path": "/predict", "method": "POST", "headers": [(b"content-type", b"application/json")]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def loop(n: int) -> None:
        for _ in range(n):
            await app(scope, receive, send)

    def stage(fn: Any) -> float:
        t = time.perf_counter()
        for _ in range(iterations):
            fn()
        return (time.perf_counter() - t) / iterations * 1e6

    body = orjson.loads(raw)
    batch = predictor.parse(body, max_rows=10_000, reject_extra=True)
    result = predictor.predict(batch)

    def finish() -> None:
        state.observe("/predict", 200, 0.001)
        orjson.dumps(result.__dict__)

    stages = {
        "orjson.loads": stage(lambda: orjson.loads(raw)),
        "validate + convert to numpy": stage(lambda: predictor.parse(body, max_rows=10_000, reject_extra=True)),
        "features + predict_proba (fast path)": stage(lambda: predictor.predict(batch)),
        "metrics + response JSON": stage(finish),
    }
    uvloop.run(loop(200))
    t = time.perf_counter()
    uvloop.run(loop(iterations))
    whole = (time.perf_counter() - t) / iterations * 1e6
    prof = cProfile.Profile()
    prof.enable()
    uvloop.run(loop(iterations))
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(12)
    lines = [f"- {k}: {v:.1f} us" for k, v in stages.items()]
    lines.append(f"- whole ASGI call in-process (no socket, no HTTP parsing): {whole:.1f} us")
    return (
        "\n".join(lines)
        + "\n\ncProfile, top by own time, "
        + f"{iterations} one-row requests:\n```\n"
        + ("\n".join(text.getvalue().splitlines()[:40]))
        + "\n```"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tracking-uri", help="use this MLflow server instead of starting a temporary one")
    parser.add_argument("--requests", type=int, default=2000, help="requests per cell at most")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per cell at most")
    parser.add_argument("--workers", type=int, default=2, help="mlops serve worker processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("mlflow", "urllib3", "alembic", "ml.train"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        work = Path(tmp)
        tracking = None
        if not args.tracking_uri:
            port = free_port()
            cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
            cmd += [
                "--backend-store-uri",
                f"sqlite:///{work / 'mlflow.db'}",
                "--artifacts-destination",
                str(work / "a"),
            ]
            tracking = Proc(cmd, TRACKING_SERVER_ENV, work / "mlflow-server.log", f"http://127.0.0.1:{port}/health")
            args.tracking_uri = f"http://127.0.0.1:{port}"
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        try:
            uris = train_models(args.tracking_uri)
            rows = [r for label, uri in uris.items() for r in bench_model(label, uri, args.tracking_uri, args, work)]
            report = table(rows)
            report += "\n\nServer CPU time per one-row request at concurrency 8 (all server processes):\n"
            for label in uris:
                cpu = next(r["cpu_ms"] for r in rows if r["model"] == label)
                report += f"- {label}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in cpu.items()) + "\n"
            report += "\n\nWhere a one-row request's time goes in `mlops serve` (logistic regression):\n"
            report += profile(next(iter(uris.values())), work)
            sys.stdout.write(report + "\n")
        finally:
            if tracking is not None:
                tracking.stop()


if __name__ == "__main__":
    main()
