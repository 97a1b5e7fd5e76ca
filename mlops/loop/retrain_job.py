"""A retrain as a training job: the monitored window's rows (`ml.monitor.retrain.assemble`) handed to the
stack's training cluster as a local file (uploaded once per content hash by the job machinery), and the
trigger recorded as lineage on the job's run and on the version it registers."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ml.monitor.judge import MonitorOutcome
    from mlops.jobs.search_jobs import JobOutcome
    from mlops.stacks import Environment


def retrain_as_job(
    environment: Environment,
    outcome: MonitorOutcome,
    *,
    log_uri: str,
    train_config: Path,
    tags: dict[str, str],
    console: Console,
    sink: Any = None,
) -> JobOutcome:
    """Assemble the rows here (they come from the prediction log the operator reads), train them as a job."""
    from ml.monitor.retrain import assemble, write_training_inputs
    from mlops.jobs.launch import run_training_job

    data = assemble(outcome, log_uri=log_uri, train_config=train_config)
    console.print(f"- retraining {data.config.model_name} on {len(data.frame)} rows ({data.uri})", highlight=False)
    with tempfile.TemporaryDirectory(prefix="mlops-retrain-") as tmp:
        config_path = write_training_inputs(data, train_config, Path(tmp))
        return run_training_job(environment, config_path, console, tags=tags, sink=sink)
