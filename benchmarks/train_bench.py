"""How much does tracking cost on top of training? Prints a markdown table for the README.

For the breast-cancer example and a generated dataset (1,000,000 rows by default), measures:

- the wall time of the whole ``mlops train`` command (a fresh process: imports, data, fit, evaluation,
  tracking, registration);
- the fit alone, and the tracking + registering overhead, both as timed inside that command;
- the tracking + registering overhead of the very first run against the just-started server, reported
  apart: the server's own first requests (its lazy imports, the first writes to a new database) cost a
  one-off second that an environment's long-running server has already paid;
- the tracking + registering overhead again in a warm process (``run_training`` called in-process after
  the imports are done), which is the per-run cost when training repeatedly (search, retraining);
- the same fit under ``mlflow.sklearn.autolog()`` (MLflow's default autologging, in its own run), and
  its ratio to the plain fit.

Usage (starts its own MLflow server on a free loopback port unless --tracking-uri is given)::

    python benchmarks/train_bench.py [--rows 1000000] [--tracking-uri http://127.0.0.1:5500]

Training as a job on the local Kubernetes cluster (its overhead over in-process, and 8 trials with
parallelism 1 vs 2) is measured by `python -m benchmarks.train_bench_jobs`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from ml.mlflow_log import TRACKING_SERVER_ENV

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("train_bench")


@contextmanager
def mlflow_server(workdir: Path) -> Iterator[str]:
    """A throwaway ``mlflow server`` (SQLite, local proxied artifacts) on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(workdir / "artifacts")]
    with (workdir / "server.log").open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **TRACKING_SERVER_ENV},
            start_new_session=True,
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start; see {workdir / 'server.log'}") from None
                time.sleep(0.5)
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def cli_train(config: Path, uri: str) -> dict[str, Any]:
    """Run ``mlops train --json`` in a fresh process; its summary plus the wall time of the command."""
    mlops = shutil.which("mlops", path=str(Path(sys.executable).parent)) or "mlops"
    started = time.perf_counter()
    done = subprocess.run(
        [mlops, "train", "--tracking-uri", uri, "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"mlops train failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary | {"wall_s": wall}


def autolog_fit(config_path: Path, uri: str) -> tuple[float, float]:
    """(plain fit seconds, autologged fit seconds) on the same split, in this process, plain first."""
    import mlflow
    import mlflow.sklearn

    from ml.data import load_dataset
    from ml.estimators import build_pipeline
    from ml.features import prepare_features
    from ml.train.prepare import split as _split
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(config_path)
    loaded = load_dataset(spec)
    x_train, _, y_train, _ = _split(prepare_features(loaded.frame, spec), loaded.frame[spec.target], spec, config)
    started = time.perf_counter()
    build_pipeline(spec, config).fit(x_train, y_train)
    plain = time.perf_counter() - started
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(f"{config.experiment_name}-autolog")
    mlflow.sklearn.autolog()
    try:
        started = time.perf_counter()
        with mlflow.start_run():
            build_pipeline(spec, config).fit(x_train, y_train)
        autologged = time.perf_counter() - started
    finally:
        mlflow.sklearn.autolog(disable=True)
    return plain, autologged


def warm_overhead(config_path: Path, uri: str) -> float:
    """Tracking + registering seconds of a ``run_training`` call in this (already warm) process."""
    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(config_path)
    timings = run_training(config, spec, uri, progress=lambda _: None).timings
    return overhead(timings)


def generated_config(rows: int, workdir: Path) -> Path:
    from ml.generate import generate

    data = workdir / "churn.parquet"
    started = time.perf_counter()
    generate(rows, seed=7).to_parquet(data, index=False)
    log.info("generated %d rows in %.1f s", rows, time.perf_counter() - started)
    spec = yaml.safe_load((REPO / "examples" / "generated" / "dataset.yaml").read_text())
    spec["source"]["uri"] = str(data)
    (workdir / "dataset.yaml").write_text(yaml.safe_dump(spec))
    config = yaml.safe_load((REPO / "examples" / "generated" / "train.yaml").read_text())
    config["dataset"] = str(workdir / "dataset.yaml")
    (workdir / "train.yaml").write_text(yaml.safe_dump(config))
    return workdir / "train.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated dataset")
    parser.add_argument("--tracking-uri", help="use this MLflow server instead of starting one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        workdir = Path(tmp)
        with mlflow_server(workdir) if not args.tracking_uri else _given(args.tracking_uri) as uri:
            cases = [("breast cancer (example)", REPO / "examples" / "breast_cancer" / "train.yaml")]
            log.info("first run against the new server")
            first = overhead(cli_train(cases[0][1], uri)["timings_s"])
            cases.append((f"generated, {args.rows:,} rows", generated_config(args.rows, workdir)))
            rows = []
            for name, config in cases:
                log.info("%s: mlops train", name)
                summary = cli_train(config, uri)
                log.info("%s: plain fit and autologged fit", name)
                plain, autologged = autolog_fit(config, uri)
                warm = warm_overhead(config, uri)
                rows.append((name, summary, summary["timings_s"], plain, autologged, warm))
    print_table(rows, first)


@contextmanager
def _given(uri: str) -> Iterator[str]:
    yield uri


def overhead(timings: dict[str, float]) -> float:
    return timings.get("tracking", 0.0) + timings.get("register", 0.0)


def print_table(rows: list[tuple[str, dict[str, Any], dict[str, float], float, float, float]], first: float) -> None:
    print(
        "| dataset | `mlops train` wall | fit (in train) | tracking + registering (new process / warm process) "
        "| evaluate + gates | plain fit | fit with `autolog()` | autolog / plain |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, summary, t, plain, autologged, warm in rows:
        cold = overhead(t)
        print(
            f"| {name} | {summary['wall_s']:.1f} s | {t['fit']:.2f} s | {cold:.2f} s / {warm:.2f} s "
            f"| {t['evaluate']:.2f} s | {plain:.2f} s | {autologged:.2f} s | {autologged / plain:.1f}x |"
        )
    print(f"\nThe first run against the just-started server: {first:.2f} s of tracking + registering.")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n{os.cpu_count()} CPUs, load average {load} at the end (a shared machine inflates every number).")


if __name__ == "__main__":
    main()
