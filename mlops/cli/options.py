"""Options shared by `mlops` commands, and the one rule for finding the tracking server.

``--tracking-uri`` always works and wins; otherwise ``--env NAME`` reads the environment's stack outputs
through ``mlops.stacks`` (imported only when needed: it loads Pulumi's Automation API).
"""

from __future__ import annotations

from pathlib import Path

import typer

ENV_HELP = "Environment (Pulumi stack) whose `tracking_uri` output to use, e.g. local, dev."
TRACKING_URI_HELP = "MLflow tracking server URI, e.g. http://127.0.0.1:5500. Wins over --env. [env MLFLOW_TRACKING_URI]"

EnvOption = typer.Option(None, "--env", "-e", help=ENV_HELP)
TrackingUriOption = typer.Option(None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI", help=TRACKING_URI_HELP)
S3EndpointOption = typer.Option(
    None,
    "--s3-endpoint",
    envvar="AWS_ENDPOINT_URL_S3",
    help="S3-compatible endpoint for s3:// data, e.g. http://127.0.0.1:9000. [env AWS_ENDPOINT_URL_S3]",
)


def resolve_tracking_uri(env: str | None, tracking_uri: str | None) -> str:
    """The tracking URI from ``--tracking-uri``, else from ``--env``; a clear usage error when neither works."""
    if tracking_uri:
        return tracking_uri
    if not env:
        raise typer.BadParameter(
            "no tracking server given: pass --tracking-uri URI (or set MLFLOW_TRACKING_URI), "
            "or --env NAME for an environment brought up with `mlops env up NAME`",
            param_hint="--env / --tracking-uri",
        )
    from mlops.stacks import EnvironmentUnavailable, resolve

    try:
        return resolve(env).tracking_uri
    except EnvironmentUnavailable as exc:
        raise typer.BadParameter(
            f"{exc} (or pass --tracking-uri to use a tracking server directly)", param_hint="--env"
        ) from exc


def policy_pack_path(path: str) -> str:
    """A `--policy-pack` directory as an absolute path: the engine runs in the project directory
    (`MLOPS_PROJECT_DIR`), where a path relative to the caller's directory names nothing, and the preview then
    fails without a word."""
    pack = Path(path).expanduser().resolve()
    if not (pack / "PulumiPolicy.yaml").is_file():
        raise typer.BadParameter(
            f"{path}: not a policy pack (no PulumiPolicy.yaml in {pack})", param_hint="--policy-pack"
        )
    return str(pack)
