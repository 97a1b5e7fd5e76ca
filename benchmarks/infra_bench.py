"""Time the infrastructure program with the real Pulumi CLI and Docker engine.

    python benchmarks/infra_bench.py [--json out.json] [--skip-docker]

Measures, on a throwaway copy of the `local` stack (stack `bench`, its own ports, names and state, so a
running `local` is untouched):

- cold `up`:   no state, no containers, none of the stack's images (the BuildKit cache is kept: pruning
               it would slow every other user of the engine; a truly cold deps build is reported by
               the first `up` on a new machine and is dominated by pip);
- warm `up`:   after `destroy`, with the retained volumes (the tracking store needs no migration);
- no-change `up` right after;
- `preview` of the bench stack and of `dev`, `staging`, `prod` (with placeholder secrets).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import runpy
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from contract import DEPLOYED_MODEL_ENV
from mlops.leftovers import purge

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv"
log = logging.getLogger("infra_bench")
BENCH = "bench"
PORTS = {"registry": 25501, "tracking": 25500, "serving": 25580}


def _program() -> None:
    runpy.run_path(str(REPO / "infra" / "__main__.py"), run_name="__main__")


def _stack(root: Path, name: str, config: dict[str, Any]) -> Any:
    from pulumi import automation as auto

    env = {
        "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "benchmark",
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "1",
        "PULUMI_RUNTIME_VIRTUALENV": str(VENV),
        "XDG_DATA_HOME": str(root / "data"),
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        # What `mlops env` hands the program of a stack that never completed an `up`: with no tracking
        # server to ask, it plans no serving instead of refusing to guess what is deployed.
        DEPLOYED_MODEL_ENV: json.dumps({"stack": name, "deployed": False, "served": ""}),
    }
    os.environ.update(env)
    work = root / "project"
    (work / "stacks").mkdir(parents=True, exist_ok=True)
    (root / "state").mkdir(exist_ok=True)
    shutil.copy(REPO / "Pulumi.yaml", work / "Pulumi.yaml")
    if not (work / "infra").exists():
        (work / "infra").symlink_to(REPO / "infra")
    (work / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    return auto.create_or_select_stack(
        stack_name=name,
        project_name="mlops-platform",
        program=_program,
        opts=auto.LocalWorkspaceOptions(work_dir=str(work), env_vars=env),
    )


def _timed(label: str, action: Callable[[], Any], results: dict[str, Any]) -> Any:
    started = time.monotonic()
    try:
        value = action()
    except Exception as err:
        lines = [line.strip() for line in str(err).splitlines() if "error" in line.lower()]
        results[label] = {"error": " / ".join(dict.fromkeys(lines))[:400] or repr(err)}
        log.error("%s failed: %s", label, results[label]["error"])
        return None
    seconds = round(time.monotonic() - started, 1)
    summary = getattr(value, "summary", None)
    changes = getattr(summary, "resource_changes", None) or getattr(value, "change_summary", None)
    results[label] = {"seconds": seconds, "changes": dict(changes or {})}
    log.info("%-22s %6.1f s  %s", label, seconds, dict(changes or {}))
    return value


def bench_config() -> dict[str, Any]:
    document = yaml.safe_load((REPO / "stacks" / "Pulumi.local.yaml").read_text())
    config = {k: v for k, v in document["config"].items() if k.startswith("mlops:")}
    config["mlops:registry"] = {**config["mlops:registry"], "port": PORTS["registry"]}
    config["mlops:tracking"] = {**config["mlops:tracking"], "port": PORTS["tracking"]}
    config["mlops:serving"] = {**config["mlops:serving"], "port": PORTS["serving"]}
    config["mlops:artifacts"] = {"volume": f"mlops-{BENCH}-artifacts"}
    return config


def run(skip_docker: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        root = Path(tmp)
        if not skip_docker:
            purge(BENCH)
            stack = _stack(root / BENCH, BENCH, bench_config())
            try:
                _timed("up (cold)", stack.up, results)
                _timed("up (no change)", stack.up, results)
                _timed("preview (bench)", stack.preview, results)
                _timed("destroy", stack.destroy, results)
                _timed("up (warm)", stack.up, results)
                _timed("up (no change, again)", stack.up, results)
            finally:
                try:
                    stack.destroy()
                finally:
                    purge(BENCH)
        for name in ("dev", "staging", "prod"):
            document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{name}.yaml").read_text())
            config = dict(document.get("config") or {})
            # prod requires a resolvable model (requireModel); there is no tracking server to resolve it here.
            config["mlops:serving"] = {**config.get("mlops:serving", {}), "requireModel": False}
            stack = _stack(root / name, name, config)
            from pulumi import automation as auto

            for key in (
                "registryPassword",
                "postgresPassword",
                "artifactsAccessKeyId",
                "artifactsSecretAccessKey",
                "trackingDatabaseUrl",
            ):
                value = "postgresql://u:p@db:5432/mlflow" if key == "trackingDatabaseUrl" else "placeholder"
                stack.set_config(f"mlops:{key}", auto.ConfigValue(value, secret=True))
            _timed(f"preview ({name})", stack.preview, results)
    return results


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--skip-docker", action="store_true", help="only the previews of the kubernetes stacks")
    args = parser.parse_args()
    results = run(args.skip_docker)
    rows = [
        f"| {label} | {value.get('seconds', 'failed')} | {value.get('changes', value.get('error'))} |"
        for label, value in results.items()
    ]
    log.info("\n".join(["| step | seconds | changes |", "|---|---|---|", *rows]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all("seconds" in v for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
