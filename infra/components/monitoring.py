"""MonitoringSchedule: the monitor of the served model, run by the environment on `mlops:monitoring.schedule`."""

from __future__ import annotations

import pulumi

from infra.components.targets import TARGETS
from infra.components.types import MonitoringScheduleArgs, MonitoringScheduleOutputs


class MonitoringSchedule(pulumi.ComponentResource):
    """`python -m ml.monitor` from the trainer image on the stack's schedule, with its thresholds.

    Target implementations receive `(component, MonitoringScheduleArgs)` and return `MonitoringScheduleOutputs`.
    kubernetes: a CronJob (one pass per tick, never two at once) under a ServiceAccount of its own with no API
    token, fenced by a NetworkPolicy to the tracking server and the prediction log's storage. docker: a scheduler
    container running the loop (`--every CRON`), restarted with the stack. Nothing when the stack sets no
    schedule, or serves no model yet.
    """

    runner: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringScheduleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:monitoring:MonitoringSchedule", name, None, opts)
        out: MonitoringScheduleOutputs = TARGETS[args.settings.target].monitoring(self, args)
        self.runner = out.runner
        self.register_outputs({"runner": self.runner})
