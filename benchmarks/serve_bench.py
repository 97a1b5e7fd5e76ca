"""Benchmark `mlops serve` against `mlflow models serve` and MLServer 1.7 on the same models, on this machine.

    .venv/bin/python benchmarks/serve_bench.py [--tracking-uri URI] [--requests 2000] [--seconds 6]
        [--rows 1,100,1000] [--conc 1,8] [--models example,plain] [--no-profile]

Registers two models on an MLflow server (a temporary one on a loopback port unless --tracking-uri is given):
the breast-cancer example pipeline trained through `ml.train` and a plain StandardScaler + LogisticRegression.
For each model it starts, one after the other, `mlops serve` (one worker), `mlflow models serve` and MLServer
(`mlserver` + `mlserver-sklearn` 1.7 in their own venv under ~/.cache/mlops-platform/bench, parallel_workers 0,
httptools, the same fitted model), and drives them with a keep-alive HTTP/1.1 client: 1, 100 and 1000 rows at
concurrency 1 and 8. Each pair compared gets the same request bytes: MLflow's `dataframe_split` to ours and to
MLflow on /invocations; v2 JSON (one tensor per column) to ours and to MLServer; ours also answers the same rows
as one binary FP64 tensor. A cell stops after --requests requests or --seconds seconds. Prints a markdown
table with req/s ratios and server CPU per request, then where a one-row request's time goes in ours.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from serve_bench_load import Cell, drive
from serve_bench_servers import BIN, REPO, Proc, cpu_seconds, free_port, mlserver_command

from ml.mlflow_log import TRACKING_SERVER_ENV

log = logging.getLogger("serve_bench")
JSON = {"content-type": "application/json"}


def register_models(tracking_uri: str, wanted: list[str]) -> dict[str, tuple[str, str]]:
    """label -> (registered name, version)."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ml.registry import tag_artifact_sha256
    from ml.train import run_training
    from ml.training_config import load_config_and_spec

    config, spec = load_config_and_spec(REPO / "examples" / "breast_cancer" / "train.yaml")
    out = {}
    if "example" in wanted:
        result = run_training(config, spec, tracking_uri)
        out["example pipeline"] = (result.model_name, result.version)
    if "plain" in wanted:
        frame, target = breast_cancer()
        plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(frame, target)
        mlflow.set_tracking_uri(tracking_uri)
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                plain,
                name="model",
                signature=infer_signature(frame, plain.predict(frame)),
                input_example=frame.head(3),
                registered_model_name="bench-scaler-lr",
                serialization_format="pickle",
            )
        version = str(info.registered_model_version)
        # What `mlops train` records for every version: the server loads no version without its files' hash.
        tag_artifact_sha256(mlflow.MlflowClient(tracking_uri), "bench-scaler-lr", version)
        out["scaler + LR"] = ("bench-scaler-lr", version)
    return out


def breast_cancer() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame
    return data.drop(columns=["target"]).astype("float64"), data["target"]


def request_bodies(model: Any, rows: int, name: str) -> dict[str, tuple[bytes, dict[str, str]]]:
    """protocol -> (body, headers) for `rows` rows, in the model's column order."""
    import numpy as np
    import pandas as pd

    frame, _ = breast_cancer()
    frame = pd.concat([frame] * 2, ignore_index=True)[[str(n) for n in model.feature_names_in_]].iloc[:rows]
    split = json.loads(frame.to_json(orient="split", index=False))
    columns = [{"name": c, "datatype": "FP64", "shape": [rows], "data": frame[c].tolist()} for c in frame.columns]
    v2_json = {"parameters": {"content_type": "pd"}, "inputs": columns}
    matrix = np.ascontiguousarray(frame.to_numpy(dtype="<f8"))
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "datatype": "FP64",
                    "shape": list(matrix.shape),
                    "parameters": {"binary_data_size": matrix.nbytes},
                }
            ],
            "outputs": [{"name": "predict", "parameters": {"binary_data": True}}],
        }
    ).encode()
    binary_headers = {"content-type": "application/octet-stream", "inference-header-content-length": str(len(header))}
    return {
        "mlflow": (json.dumps({"dataframe_split": split}).encode(), JSON),
        "v2": (json.dumps(v2_json).encode(), JSON),
        "v2-binary": (header + matrix.tobytes(), binary_headers),
    }


# server -> (protocol of its body, path template)
SERVERS = {
    "ours /invocations": ("mlflow", "/invocations"),
    "mlflow models serve": ("mlflow", "/invocations"),
    "ours v2 JSON": ("v2", "/v2/models/{name}/infer"),
    "MLServer v2 JSON": ("v2", "/v2/models/{name}/infer"),
    "ours v2 binary": ("v2-binary", "/v2/models/{name}/infer"),
}


def start(server: str, name: str, version: str, tracking_uri: str, work: Path) -> tuple[Proc, int]:
    port = free_port()
    uri = f"models:/{name}/{version}"
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    logfile = work / f"{server.split()[0]}-{port}.log"
    if server.startswith("ours"):
        cmd = [str(BIN / "mlops"), "serve", "--model-uri", uri, "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--workers", "1", "--model-cache", str(work / "cache"), "--prediction-log", ""]
        return Proc(cmd, env, logfile, f"http://127.0.0.1:{port}/ready"), port
    if server == "mlflow models serve":
        # `mlflow models serve` runs `uvicorn` through bash, so the venv's bin must be on PATH.
        cmd = [str(BIN / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local"]
        return Proc([*cmd, "-h", "127.0.0.1", "-p", str(port)], env, logfile, f"http://127.0.0.1:{port}/ping"), port
    import joblib
    import mlflow.sklearn

    pickle = work / f"{name}-{version}.joblib"
    if not pickle.exists():
        joblib.dump(mlflow.sklearn.load_model(uri), pickle)
    cmd, extra = mlserver_command(pickle, name, work, port)
    return Proc(cmd, extra, logfile, f"http://127.0.0.1:{port}/v2/models/{name}/ready"), port


def bench(label: str, name: str, version: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
    bodies = {rows: request_bodies(model, rows, name) for rows in args.rows}
    cells: dict[tuple[str, int, int], Cell] = {}
    previous: tuple[Proc, int] | None = None
    for server, (protocol, template) in SERVERS.items():
        # ours serves three protocols from one process: started once, for the first of its rows.
        if previous is None or not (server.startswith("ours") and previous[0].logfile.name.startswith("ours")):
            if previous is not None:
                previous[0].stop()
            previous = start(server, name, version, args.tracking_uri, work)
        proc, port = previous
        path = template.format(name=name)
        for rows in args.rows:
            body, headers = bodies[rows][protocol]
            for conc in args.conc:
                drive(port, path, body, conc, max(20, conc * 5), 2.0, headers)  # warm-up
                before = cpu_seconds(proc.pids())
                cell = drive(port, path, body, conc, args.requests, args.seconds, headers)
                cell.cpu_s = cpu_seconds(proc.pids()) - before
                cells[(server, rows, conc)] = cell
                log.info(
                    "%s | %s rows=%d c=%d: %.0f req/s, %s errors", label, server, rows, conc, cell.rps, cell.errors
                )
    if previous is not None:
        previous[0].stop()
    return [
        {"model": label, "rows": rows, "conc": conc, "cells": {s: cells[(s, rows, conc)] for s in SERVERS}}
        for rows in args.rows
        for conc in args.conc
    ]


def table(results: list[dict[str, Any]]) -> str:
    short = {s: s.replace(" models serve", "").replace("MLServer v2 JSON", "MLServer") for s in SERVERS}
    head = " | ".join(f"{short[s]} req/s (p50 ms, CPU ms/req)" for s in SERVERS)
    lines = [
        f"| model | rows | conc | {head} | ours/mlflow | ours v2/MLServer | ours binary/MLServer |",
        "|---|---:|---:|" + "---:|" * (len(SERVERS) + 3),
    ]
    for r in results:
        c = r["cells"]
        cols = " | ".join(
            f"{c[s].rps:.0f} ({c[s].pct(0.5):.2f}, {c[s].cpu_ms_per_request:.2f})"
            + (f" {c[s].errors} errors" if c[s].errors else "")
            for s in SERVERS
        )

        lines.append(
            f"| {r['model']} | {r['rows']} | {r['conc']} | {cols} "
            f"| {_ratio(c, 'ours /invocations', 'mlflow models serve')} "
            f"| {_ratio(c, 'ours v2 JSON', 'MLServer v2 JSON')} | {_ratio(c, 'ours v2 binary', 'MLServer v2 JSON')} |"
        )
    return "\n".join(lines)


def _ratio(cells: dict[str, Cell], a: str, b: str) -> str:
    return f"{cells[a].rps / cells[b].rps:.1f}x" if cells[b].rps else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--tracking-uri", help="use this MLflow server instead of starting a temporary one")
    parser.add_argument("--requests", type=int, default=2000, help="requests per cell at most")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per cell at most")
    parser.add_argument("--rows", default="1,100,1000", help="rows per request, comma separated")
    parser.add_argument("--conc", default="1,8", help="concurrent connections, comma separated")
    parser.add_argument("--models", default="example,plain", help="example (ml.train pipeline), plain (scaler+LR)")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process profile of ours")
    args = parser.parse_args()
    args.rows = [int(x) for x in args.rows.split(",")]
    args.conc = [int(x) for x in args.conc.split(",")]
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
            models = register_models(args.tracking_uri, args.models.split(","))
            results = [r for label, (n, v) in models.items() for r in bench(label, n, v, args, work)]
            report = table(results)
            if not args.no_profile:
                from serve_bench_profile import profile

                name, version = next(iter(models.values()))
                report += "\n\nWhere a one-row request's time goes in `mlops serve`:\n"
                report += profile(f"models:/{name}/{version}", work, request_bodies)
            sys.stdout.write(report + "\n")
        finally:
            if tracking is not None:
                tracking.stop()


if __name__ == "__main__":
    main()
