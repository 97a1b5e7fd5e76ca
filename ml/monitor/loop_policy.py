"""The closed loop's keys of `mlops:monitoring`: where labels come from, where a retrained model goes next,
and how a promotion request is announced. Parsed with the thresholds (`ml.monitor.thresholds.Thresholds`),
so a typo in any of them fails `mlops monitor --env` with the stack, the dotted key and the fix::

    mlops:monitoring:
      labels: s3://bucket/labels            # the ground-truth sink, as `--labels` takes it
      retrain: {onDrift: true, trainConfig: examples/breast_cancer/train.yaml}
      promoteTo: staging                    # a retrained challenger asks to be promoted there
      promotionRequest:
        webhookUrl: https://hooks.example.com/mlops
        github: {repository: acme/ml-platform, workflow: promote.yml, ref: main}
        timeoutS: 5
        attempts: 3
      webhookSecret: {secure: v1:...}       # `pulumi config set --secret --path mlops:monitoring.webhookSecret`
      githubToken: {secure: v1:...}         # may run the workflow (actions: write)
      schedule: "*/30 * * * *"              # when the scheduled monitor runs (read by infra and the workflows)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import BeforeValidator, Field

from ml.config_section import Number, Section, Whole

SECRET_KEY = "mlops:monitoring.webhookSecret"
SET_SECRET = f"pulumi config set --secret --path {SECRET_KEY} VALUE"
GITHUB_TOKEN_KEY = "mlops:monitoring.githubToken"
SET_GITHUB_TOKEN = f"pulumi config set --secret --path {GITHUB_TOKEN_KEY} VALUE"


def _text(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value.strip()


def _web_url(value: Any) -> Any:
    text = _text(value)
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return text


def _env_name(value: Any) -> Any:
    text = _text(value)
    if not all(c.isalnum() or c in "-_." for c in text):
        raise ValueError(f"must be the name of a stack (letters, digits, '-', '_', '.'), got {value!r}")
    return text


def _cron(value: Any) -> Any:
    """The grammar the schedulers run (`contract.cron`), so `mlops monitor --env` refuses what they would."""
    from contract import cron

    text = _text(value)
    cron.parse(text)
    return text


def _secret_set_by(command: str) -> Callable[[Any], Any]:
    def encrypted(value: Any) -> Any:
        """Only the encrypted form a stack file holds: a plain value would sit in the repository in clear text."""
        if isinstance(value, Mapping) and isinstance(value.get("secure"), str):
            return "<secret>"
        raise ValueError(f"must be a Pulumi secret, not a plain value: set it with `{command}`")

    return encrypted


def _repository(value: Any) -> Any:
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", text):
        raise ValueError(f"must be a GitHub repository as owner/name, got {value!r}")
    return text


def _workflow(value: Any) -> Any:
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z0-9._-]+\.ya?ml", text):
        raise ValueError(f"must be a workflow's file name in .github/workflows (like promote.yml), got {value!r}")
    return text


Text = Annotated[str, BeforeValidator(_text)]
WebUrl = Annotated[str, BeforeValidator(_web_url)]
EnvName = Annotated[str, BeforeValidator(_env_name)]
PulumiSecret = Annotated[str, BeforeValidator(_secret_set_by(SET_SECRET))]
GitHubTokenSecret = Annotated[str, BeforeValidator(_secret_set_by(SET_GITHUB_TOKEN))]
Repository = Annotated[str, BeforeValidator(_repository)]
Workflow = Annotated[str, BeforeValidator(_workflow)]
CronExpression = Annotated[str, BeforeValidator(_cron)]


class GitHubDispatch(Section):
    """`mlops:monitoring.promotionRequest.github`: the request as a run of the repository's promotion workflow
    (`workflow_dispatch` with the request's model, environments and id), which shows the request's comment and
    promotes it through `mlops promote --request`, its gates and its GitHub environment's reviewers."""

    repository: Repository = Field(description="owner/name")
    workflow: Workflow = Field(default="promote.yml", description="a workflow file name")
    ref: Text = Field(default="main", description="the branch or tag whose workflow runs")
    api_url: WebUrl = Field(default="https://api.github.com", description="an http:// or https:// URL")
    """GitHub's REST API; a GitHub Enterprise Server's is `https://HOST/api/v3`."""


class PromotionRequestPolicy(Section):
    """`mlops:monitoring.promotionRequest`: who hears of a new promotion request, and how patiently."""

    webhook_url: WebUrl | None = Field(default=None, description="an http:// or https:// URL")
    github: GitHubDispatch | None = None
    timeout_s: Number = Field(default=5.0, gt=0, le=60, description="seconds, above 0 and at most 60")
    attempts: Whole = Field(default=3, ge=1, le=10, description="a whole number from 1 to 10")
