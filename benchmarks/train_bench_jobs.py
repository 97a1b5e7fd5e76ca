"""What does training as a Kubernetes Job cost over training in-process, and what do parallel trials buy?

The training benchmark's part for jobs (`train_bench.py` measures tracking inside one training). On a local
cluster of its own (the one the job tests use: `tests/mlops/jobs/kube_stack.py`, the trainer image built
from this checkout and already imported, a tracking server in the cluster), it measures:

- the wall time of `mlops train` of the example as a Job and in-process against the same tracking server,
  `--runs` times each, alternating; the overhead is the difference (target: under 20 s);
- the wall time of a search of 8 trials as an Indexed Job with parallelism 1 and then 2 (each followed by
  the final job that trains and registers the best), and the span of the trials themselves (first trial
  run's start to the last one's end, from MLflow).

Needs root, the cluster toolchain (`make setup`) and no cluster of the user's running. Run from the
repository root:

    .venv/bin/python -m benchmarks.train_bench_jobs [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.mlops.jobs.images import trainer_images
from tests.mlops.jobs.job_cli import env_for, example_config, run_mlops, said, search_runs
from tests.mlops.jobs.kube_stack import KubeJobStack, kube_job_stack, skip_reason

EIGHT_TRIALS = {"params": {"C": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]}, "trials": 8, "cv": 3}


def timed_train(stack: KubeJobStack, config: Path, workdir: Path, *extra: str) -> float:
    env = env_for(workdir, stack.description())
    started = time.monotonic()
    result = run_mlops(["train", "--env", "bench", "--config", str(config), "--json", *extra], env)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(said(result))
    return seconds


def overhead(stack: KubeJobStack, workdir: Path, runs: int) -> tuple[list[float], list[float]]:
    jobs, local = [], []
    for run in range(runs):
        config = example_config(workdir, f"bench-job-{uuid.uuid4().hex[:6]}")
        jobs.append(timed_train(stack, config, workdir))
        local.append(timed_train(stack, config, workdir, "--where", "local"))
        print(f"run {run + 1}: Job {jobs[-1]:.1f} s, in-process {local[-1]:.1f} s", flush=True)
    return jobs, local


def trials(stack: KubeJobStack, workdir: Path, parallelism: int) -> tuple[float, float]:
    name = f"bench-trials-{parallelism}-{uuid.uuid4().hex[:6]}"
    config = example_config(workdir, name, search={**EIGHT_TRIALS, "parallelism": parallelism})
    wall = timed_train(stack, config, workdir)
    _, runs = search_runs(stack.tracking_uri, name)
    span = (max(r.info.end_time for r in runs) - min(r.info.start_time for r in runs)) / 1000
    print(f"8 trials, parallelism {parallelism}: {wall:.1f} s in all, trials {span:.1f} s", flush=True)
    return wall, span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="Job / in-process pairs of the overhead measurement")
    args = parser.parse_args()
    reason = skip_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="train-bench-jobs-") as tmp, kube_job_stack(*trainer_images()) as stack:
        workdir = Path(tmp)
        results["overhead"] = overhead(stack, workdir, args.runs)
        results["trials"] = {p: trials(stack, workdir, p) for p in (1, 2)}
        setup = ", ".join(f"{k} {v:.1f} s" for k, v in stack.timings.items())
    jobs, local = results["overhead"]
    gaps = [j - loc for j, loc in zip(jobs, local, strict=True)]
    print("\n| measurement | value |\n|---|---:|")
    print(f"| `mlops train` of the example as a Job (median of {len(jobs)}) | {statistics.median(jobs):.1f} s |")
    print(f"| the same in-process (median of {len(local)}) | {statistics.median(local):.1f} s |")
    spread = f"{min(gaps):.1f} to {max(gaps):.1f}"
    print(f"| overhead of the Job (median; range) | {statistics.median(gaps):.1f} s ({spread}) |")
    for parallelism, (wall, span) in results["trials"].items():
        print(f"| 8 trials, parallelism {parallelism}: whole command / trials alone | {wall:.1f} s / {span:.1f} s |")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nset-up: {setup}. {os.cpu_count()} CPUs, load average {load} at the end.")


if __name__ == "__main__":
    main()
