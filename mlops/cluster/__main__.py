"""`python -m mlops.cluster up|down|status`: the `mlops cluster` commands without the whole CLI."""

from __future__ import annotations

import logging

from mlops.cli.cluster import cluster_app

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cluster_app(prog_name="mlops cluster")
