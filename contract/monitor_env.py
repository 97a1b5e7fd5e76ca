"""The environment of the scheduled monitor (`python -m ml.monitor`): what the Pulumi program sets on its
CronJob or scheduler container, and what `ml.monitor.schedule` reads. The tracking login arrives as the
other workloads get it (`contract.TRACKING_USERNAME_ENV`, `contract.TRACKING_PASSWORD_FILE_ENV`)."""

from __future__ import annotations

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
"""Where the monitor reads the reference profile and logs its run (the tracking server's internal URI)."""
MODEL_URI_ENV = "MLOPS_MONITOR_MODEL_URI"
"""The served model to judge, `models:/NAME@ALIAS` or `models:/NAME/VERSION` (the stack's `serving.modelUri`)."""
PREDICTION_LOG_ENV = "MLOPS_MONITOR_PREDICTION_LOG"
"""The prediction log to read: `file:///path` or `s3://bucket/prefix`."""
WINDOW_ENV = "MLOPS_MONITOR_WINDOW"
"""How far back each run looks, as `mlops monitor --window` takes it (`24h` when unset)."""
THRESHOLDS_ENV = "MLOPS_MONITOR_THRESHOLDS"
"""JSON of the stack's `mlops:monitoring` thresholds, keys as the stack file spells them (`{}`: defaults)."""
OUT_DIR_ENV = "MLOPS_MONITOR_OUT"
"""Scratch directory for each run's report.html and result.json before they are logged (`/tmp/monitoring`)."""
SCHEDULE_ENV = "MLOPS_MONITOR_SCHEDULE"
"""The stack's `mlops:monitoring.schedule`, for `--every` when it is not given on the command line."""
RETRAIN_DIR_ENV = "MLOPS_MONITOR_RETRAIN_DIR"
"""Set when the stack retrains on a finding: the directory of what a retrain needs (`ml.jobs.scheduled`: the
environment, its training job spec, the model's training config and dataset spec). Unset: judge and log only."""
RETRAIN_SETUP_FILE = "retrain.json"
"""In that directory: `{"environment": NAME, "training": <the stack's training output>}`."""
RETRAIN_TRAIN_CONFIG = "train.yaml"
"""In that directory: the model's training config, its `dataset:` naming RETRAIN_DATASET_SPEC beside it."""
RETRAIN_DATASET_SPEC = "dataset.yaml"
WEBHOOK_SECRET_FILE_ENV = "MLOPS_MONITOR_WEBHOOK_SECRET_FILE"
"""Set when the stack retrains from the schedule and announces promotion requests on a webhook
(`mlops:monitoring.promotionRequest.webhookUrl`): the file holding `mlops:monitoring.webhookSecret`, which signs
each announcement. A Secret of the stack, mounted; never an environment variable's value."""

GATE_KEY = "gate"
"""docker: in RETRAIN_SETUP_FILE, the job gate's URL on the stack network (`ml.jobs.gate`): the scheduler holds no
Docker socket, so it asks the gate to start the retraining container."""
RETRAIN_GATE_TOKEN = "gate-token"
"""docker: in the retrain directory, the token the scheduler shows the job gate."""
GATE_SETUP_ENV = "MLOPS_GATE_SETUP"
"""The job gate's RETRAIN_SETUP_FILE: the environment and the training job spec of the one container it starts."""
GATE_TOKEN_FILE_ENV = "MLOPS_GATE_TOKEN_FILE"
"""The file holding the token a caller of the job gate must show."""
GATE_PORT = 8780
