"""`python -m infra.images [--stack NAME]`: the content tag of every image of a stack, as JSON.

Reads the stack file (`stacks/Pulumi.NAME.yaml`) for the base image and the tracking backend, the two
settings the tags depend on, so CI and people can see what a change rebuilds without running Pulumi.
"""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from contract import CONFIG_NAMESPACE
from infra import images

DEFAULT_BASE_IMAGE = "mlops-base:bookworm-py311"


def tags(stack: str) -> dict[str, str]:
    path = images.REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    base = (config.get(f"{CONFIG_NAMESPACE}:images") or {}).get("base", DEFAULT_BASE_IMAGE)
    postgres = (config.get(f"{CONFIG_NAMESPACE}:tracking") or {}).get("backend") == "postgres"
    return {role: spec.tag for role, spec in images.stack_specs(f"mlops-{stack}", base, postgres).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="local", help="stack whose settings to use (default: local)")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(tags(args.stack), indent=2, sort_keys=True))
    except FileNotFoundError as exc:
        print(f"no such stack file: {exc.filename}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
