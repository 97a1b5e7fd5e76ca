"""`python -m infra.images [--stack NAME] [--root DIR]`: the content tag of every image of a stack, as JSON.

Reads the stack file (`stacks/Pulumi.NAME.yaml`) for the base image and the tracking backend, the two
settings the tags depend on, and the bootstrap's record of that base's identity (`infra.images.base`; no
engine needed), so CI and people can see what a change rebuilds without running Pulumi.
`--root` hashes another checkout (a clone, a copy with a change) with this code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from contract import CONFIG_NAMESPACE
from infra import images

DEFAULT_BASE_IMAGE = "mlops-base:bookworm-py311"


def tags(stack: str, root: Path | None = None) -> dict[str, str]:
    root = root or images.REPO_ROOT
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    base = (config.get(f"{CONFIG_NAMESPACE}:images") or {}).get("base", DEFAULT_BASE_IMAGE)
    postgres = (config.get(f"{CONFIG_NAMESPACE}:tracking") or {}).get("backend") == "postgres"
    return {role: spec.tag for role, spec in images.stack_specs(f"mlops-{stack}", base, postgres, root).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="local", help="stack whose settings to use (default: local)")
    parser.add_argument(
        "--root", type=Path, default=None, help="repository checkout to hash (default: the one this code is in)"
    )
    args = parser.parse_args(argv)
    try:
        print(json.dumps(tags(args.stack, args.root.resolve() if args.root else None), indent=2, sort_keys=True))
    except FileNotFoundError as exc:
        print(f"no such stack file: {exc.filename}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
