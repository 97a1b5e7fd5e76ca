"""Start the server: resolve and cache the model once, then hand the socket to uvicorn worker(s).

Resolving in the parent means every worker serves the same version even if the alias moves while they
start, and only the parent ever talks to the tracking server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Mapping
from typing import Any, cast

from ml.serve.loader import fetch
from ml.serve.logs import configure_json_logging, log_config
from ml.serve.protocol import DeadlineProtocol
from ml.serve.settings import ServeSettings
from ml.serve.state import VERSION_DIR_ENV

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 30


def run_server(overrides: Mapping[str, Any] | None = None) -> None:
    import uvicorn

    configure_json_logging()
    # uvicorn re-raises SIGTERM after its graceful shutdown; with this handler that ends in exit status 0, and a
    # SIGTERM that arrives while the model is still downloading stops the process at once.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    settings = ServeSettings.load(overrides)
    version_dir = fetch(settings.model_uri, settings.tracking_uri, settings.model_cache)
    os.environ.update(settings.to_env())
    os.environ[VERSION_DIR_ENV] = str(version_dir)
    metrics_dir = None
    if settings.workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="mlops-serve-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    log.info(
        "serving %s on %s:%d with %d worker(s)",
        settings.model_uri,
        settings.host,
        settings.port,
        settings.workers,
        extra={"version_dir": str(version_dir)},
    )
    try:
        uvicorn.run(
            "ml.serve.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            # httptools with a deadline on each request head: uvicorn has none of its own. uvicorn only calls
            # the class, so a partial with the deadline bound does (and pickles to spawned workers).
            http=cast(
                "type[asyncio.Protocol]", functools.partial(DeadlineProtocol, header_timeout=settings.header_timeout)
            ),
            limit_concurrency=settings.limit_concurrency,
            timeout_keep_alive=settings.keep_alive,
            lifespan="on",
            log_config=log_config(),
            access_log=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            backlog=2048,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)
