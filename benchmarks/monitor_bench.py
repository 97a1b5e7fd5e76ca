"""Benchmark: `mlops monitor`'s drift pass against Evidently's DataDriftPreset on the same data.

Each case writes a seeded reference and a current window (two columns shifted) to disk once, then runs
every contender in its own subprocess, which reports its wall time, CPU time and peak RSS
(``VmHWM``). Ours streams the current window from the prediction-log layout (parquet row groups)
against the reference profile, so its time includes reading the files; Evidently gets both frames in
memory and only ``Report.run`` is timed, which favours Evidently. Evidently is bounded by a timeout
and reported as "> N s" when it hits it; the 10M-row case is a memory check of ours only, because
Evidently would need the whole 10M-row frame (and its copies) in memory.

Evidently 0.7 does not import with pandas 3 (the project's pandas), so it runs from an interpreter of
its own: by default the benchmark creates one under the user's cache dir (``evidently==0.7.23``,
``pandas<3``, ``pyarrow``) the first time; ``--evidently-python PATH`` uses another.

    python benchmarks/monitor_bench.py                        # all cases, markdown table on stdout
    python benchmarks/monitor_bench.py --cases 100000x20 --evidently-timeout 120
    python benchmarks/monitor_bench.py --cases 10000000x20,1000000x20 --skip-evidently --repeat 3

With ``--repeat N`` ours runs N times per case and each cell shows the range; the load average before
each run is logged, because on a shared machine wall time measures the queue for the cores as well.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

log = logging.getLogger("monitor_bench")

DEFAULT_CASES = "100000x20,100000x100,1000000x20,1000000x100,10000000x20"
SHIFTED = ("f1", "f3")
CHUNK_ROWS = 1_000_000
MODEL = "bench"

# Peak memory from VmHWM, the high-water mark of this process's own address space: ru_maxrss is
# carried over from the parent across fork and exec on Linux, so it would report the benchmark
# driver's size after it generated a large case.
_MEASURE = """
import json, sys, time
def _peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t0, c0 = time.perf_counter(), time.process_time()
result = run()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "peak_mb": _peak_mb(), **result}))
"""

OURS = """
import json, sys
from ml.monitor.judge import MonitorRequest, monitor_log
profile = json.load(open(sys.argv[1]))
def run():
    outcome = monitor_log(MonitorRequest(profile=profile, model=sys.argv[3]), sys.argv[2])
    return {"rows": outcome.drift.rows, "drifted": outcome.drift.drifted_features}
"""

EVIDENTLY = """
import sys, glob
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference = pd.read_parquet(sys.argv[1])
current = pd.concat([pd.read_parquet(p) for p in sorted(glob.glob(sys.argv[2] + "/**/*.parquet", recursive=True))])
current = current[reference.columns]
def run():
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    found = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config") or {}
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        method = str(config.get("method", "")).lower()
        tests_p = "p_value" in method or "k-s" in method or "chi-square" in method or "z-test" in method
        if (value < threshold) if tests_p else (value >= threshold):
            found.append(config["column"])
    return {"rows": len(current), "drifted": sorted(found)}
"""


def _frame(rows: int, cols: int, seed: int, shift: bool):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {f"f{i}": rng.normal(i % 7, 1 + i % 3, rows) for i in range(cols)}
    if shift:
        for name in SHIFTED:
            data[name] = data[name] + 0.5 * (1 + int(name[1:]) % 3)
    frame = pd.DataFrame(data)
    frame["_prediction"] = (frame["f0"] > 0).astype("int64")
    return frame


def write_jsonl(log_root: Path, jsonl_root: Path) -> None:
    """The same window as jsonl (the server's default log format), converted row group by row group."""
    import pyarrow.parquet as pq

    target = jsonl_root / MODEL / "date=2026-11-26"
    target.mkdir(parents=True, exist_ok=True)
    source = pq.ParquetFile(next((log_root / MODEL).rglob("*.parquet")))
    with open(target / "12-bench.jsonl", "w") as out:
        for group in range(source.num_row_groups):
            source.read_row_group(group).to_pandas().to_json(out, orient="records", lines=True)


def prepare(workdir: Path, rows: int, cols: int) -> tuple[Path, Path, Path]:
    """Reference parquet, its profile, and the current window in the prediction-log layout."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ml.profile import build_reference_profile

    case = workdir / f"{rows}x{cols}"
    reference, profile, log_root = case / "reference.parquet", case / "profile.json", case / "log"
    if profile.exists():
        return reference, profile, log_root
    log_dir = log_root / MODEL / "date=2026-11-26"
    log_dir.mkdir(parents=True, exist_ok=True)
    ref_rows = min(rows, CHUNK_ROWS)
    ref = _frame(ref_rows, cols, seed=1, shift=False)
    ref.to_parquet(reference, index=False)
    features = ref.drop(columns=["_prediction"])
    profile.write_text(json.dumps(build_reference_profile(features, ref["_prediction"])))
    writer = None
    for start in range(0, rows, CHUNK_ROWS):
        part = _frame(min(CHUNK_ROWS, rows - start), cols, seed=2 + start, shift=True)
        part.insert(0, "_ts", "2026-11-26T12:00:00Z")
        table = pa.Table.from_pandas(part, preserve_index=False)
        writer = writer or pq.ParquetWriter(log_dir / "12-bench.parquet", table.schema)
        writer.write_table(table, row_group_size=262_144)
    if writer is not None:
        writer.close()
    return reference, profile, log_root


def measure(python: str, body: str, args: list[str], timeout: float) -> dict | None:
    script = textwrap.dedent(body) + _MEASURE
    try:
        done = subprocess.run(
            [python, "-c", script, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{python} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


EVIDENTLY_REQUIREMENTS = ("evidently==0.7.23", "pandas<3", "pyarrow")


def evidently_interpreter() -> str:
    """A venv with Evidently and a pandas it imports with, made once under the user's cache dir."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlops-platform" / "bench"
    venv = cache / "evidently-0.7.23"
    python = venv / "bin" / "python"
    if not python.exists():
        log.info("creating %s with %s (once; a minute or two)", venv, " ".join(EVIDENTLY_REQUIREMENTS))
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *EVIDENTLY_REQUIREMENTS], check=True)
    return str(python)


def _cell(result: dict | None, timeout: float, key: str, fmt: str) -> str:
    if result is None:
        return f"> {timeout:.0f} s" if key == "seconds" else "-"
    return format(result[key], fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=DEFAULT_CASES, help="ROWSxCOLS, comma separated")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mlops-monitor-bench")
    parser.add_argument("--evidently-python", default=os.environ.get("MLOPS_BENCH_EVIDENTLY_PYTHON"))
    parser.add_argument(
        "--log-format",
        choices=["parquet", "jsonl"],
        default="parquet",
        help="format of the log ours reads (Evidently always gets the same rows in memory)",
    )
    parser.add_argument("--evidently-timeout", type=float, default=600.0)
    parser.add_argument(
        "--evidently-max-rows",
        type=int,
        default=1_000_000,
        help="skip Evidently above this many rows (the memory-check case)",
    )
    parser.add_argument("--skip-evidently", action="store_true", help="measure ours only")
    parser.add_argument("--repeat", type=int, default=1, help="runs of ours per case; cells show the range")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.skip_evidently:
        args.evidently_max_rows = -1
    else:
        args.evidently_python = args.evidently_python or evidently_interpreter()

    lines = [
        "| rows x cols | ours s (cpu s) | ours peak MB | Evidently s (cpu s) | Evidently peak MB | "
        "speed-up | drifted: ours / Evidently |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in args.cases.split(","):
        rows, cols = (int(v) for v in case.lower().split("x"))
        log.info("case %s: preparing data", case)
        reference, profile, log_root = prepare(args.workdir, rows, cols)
        ours_root = log_root
        if args.log_format == "jsonl":
            ours_root = log_root.with_name("log-jsonl")
            if not ours_root.exists():
                write_jsonl(log_root, ours_root)
        runs = []
        for run in range(args.repeat):
            log.info(
                "case %s: ours (%s), run %d, load average %.2f", case, args.log_format, run + 1, os.getloadavg()[0]
            )
            result = measure(sys.executable, OURS, [str(profile), str(ours_root), MODEL], timeout=3600)
            assert result is not None
            log.info(
                "case %s: %.2f s (cpu %.2f s), peak %.0f MB", case, result["seconds"], result["cpu"], result["peak_mb"]
            )
            runs.append(result)
        ours = min(runs, key=lambda r: r["seconds"])
        theirs = None
        if rows <= args.evidently_max_rows:
            log.info("case %s: Evidently (timeout %.0f s)", case, args.evidently_timeout)
            theirs = measure(args.evidently_python, EVIDENTLY, [str(reference), str(log_root)], args.evidently_timeout)
        if theirs is not None:
            ratio = f"{theirs['seconds'] / ours['seconds']:.0f}x"
        elif rows <= args.evidently_max_rows:
            ratio = f"> {args.evidently_timeout / ours['seconds']:.0f}x"
        else:
            ratio = "n/a (not run)"
        evidently_s = (
            "not run"
            if rows > args.evidently_max_rows
            else f"{_cell(theirs, args.evidently_timeout, 'seconds', '.1f')} ({_cell(theirs, 0, 'cpu', '.1f')})"
        )
        lines.append(
            f"| {rows:,} x {cols} | {_span(runs, 'seconds')} ({_span(runs, 'cpu')}) | "
            f"{_span(runs, 'peak_mb', '.0f')} | "
            f"{evidently_s} | {_cell(theirs, 0, 'peak_mb', '.0f')} | {ratio} | "
            f"{','.join(ours['drifted'])} / {','.join(theirs['drifted']) if theirs else '-'} |"
        )
        log.info(lines[-1])
    print("\n".join(lines))


def _span(runs: list[dict], key: str, fmt: str = ".2f") -> str:
    """One run's figure, or the range over several."""
    low, high = min(r[key] for r in runs), max(r[key] for r in runs)
    return format(low, fmt) if len(runs) == 1 else f"{low:{fmt}}-{high:{fmt}}"


if __name__ == "__main__":
    main()
