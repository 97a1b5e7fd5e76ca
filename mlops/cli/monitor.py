"""`mlops monitor`: drift, data quality and live model quality of a served model, from its prediction log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

from contract import CHAMPION, ModelRef, Outputs

log = logging.getLogger(__name__)

HELP = (
    "Compare a window of the model's prediction log with the reference profile of its registered "
    "version: per-feature drift (PSI, KS, chi-squared, Jensen-Shannon), prediction drift, data quality, "
    "and with --labels the live metrics against the registered ones. Writes report.html and "
    "result.json, logs a run to the 'monitoring' experiment, and prints a summary.\n\n"
    "Example: mlops monitor --env local --window 24h --labels labels.csv\n\n"
    "Without a stack: mlops monitor --model NAME --log-uri file:///path --tracking-uri http://127.0.0.1:5000\n\n"
)


def register(app: typer.Typer) -> None:
    from ml.monitor.thresholds import EXIT_CODES_HELP

    app.command("monitor", help=HELP + EXIT_CODES_HELP)(monitor)


def _from_env(env: str | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    if env is None:
        return None, {}, {}
    from mlops.stacks import EnvironmentUnavailable, resolve

    try:
        environment = resolve(env)
        return environment, dict(environment.outputs), dict(environment.section("monitoring"))
    except EnvironmentUnavailable as exc:
        # Re-raised as LookupError so the command reports it like any other missing input.
        raise LookupError(f"{exc} Or run without a stack: --log-uri, --tracking-uri and --model.") from exc


def _model_from_uri(uri: str | None) -> tuple[str | None, str | None]:
    """(name, alias) of ``models:/NAME@ALIAS``; a pinned version gives no alias; no reference gives neither."""
    try:
        ref = ModelRef.parse(uri or "")
    except ValueError:
        return None, None
    return ref.name, ref.alias


def monitor(
    env: str | None = typer.Option(None, "--env", help="Environment (stack): its prediction log and thresholds."),
    model: str | None = typer.Option(None, "--model", help="Registered model name (default: the env's served model)."),
    model_version: str | None = typer.Option(None, "--model-version", help="Registered version to compare against."),
    alias: str | None = typer.Option(None, "--alias", help="Registry alias to compare against (default: champion)."),
    window: str | None = typer.Option(None, "--window", help="Look back this far from now: 30m, 24h, 7d."),
    since: str | None = typer.Option(None, "--since", help="Start of the window, ISO-8601 (UTC if no offset)."),
    until: str | None = typer.Option(None, "--until", help="End of the window, ISO-8601 (default: now)."),
    log_uri: str | None = typer.Option(
        None, "--log-uri", help="Prediction log sink: file:///path or s3://bucket/prefix."
    ),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: the env's)."),
    reference: Path = typer.Option(
        None, "--reference", help="A local reference_profile.json instead of the registry's."
    ),
    labels: str = typer.Option(
        None,
        "--labels",
        help="Ground truth: CSV/Parquet file or prefix with request_id,row,label (default: the stack's "
        "mlops:monitoring.labels).",
    ),
    out: Path = typer.Option(Path("monitoring-reports"), "--out", help="Directory for report.html and result.json."),
    psi_threshold: float | None = typer.Option(None, "--psi-threshold", help="PSI above this is drift (default 0.2)."),
    p_value: float | None = typer.Option(None, "--p-value", help="Family-wise KS/chi2 significance (default 0.01)."),
    quality_tolerance: float | None = typer.Option(None, "--quality-tolerance", help="Allowed metric drop (0.05)."),
    min_rows: int | None = typer.Option(None, "--min-rows", help="Judge nothing below this many rows (default 200)."),
    log_run: bool = typer.Option(True, "--log-run/--no-log-run", help="Log a monitoring run to the tracking server."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON result instead of the table."),
    retrain: bool = typer.Option(
        False,
        "--retrain",
        help="If the policy says so, retrain and register a challenger: with --env as a job on the stack's "
        "training cluster, followed by a promotion request to mlops:monitoring.promoteTo (never a promotion).",
    ),
    train_config: Path | None = typer.Option(
        None,
        "--train-config",
        help="With --retrain: the model's training config (default: the stack's mlops:monitoring.retrain."
        "trainConfig, relative to the project).",
    ),
) -> None:
    from rich.console import Console

    from ml.monitor import logsource, report
    from ml.monitor.judge import MonitorRequest, monitor_log
    from ml.monitor.quality import load_labels
    from ml.monitor.thresholds import ExitCode, Thresholds

    console = Console(stderr=as_json)
    try:
        environment, outputs, config = _from_env(env)
        served_name, served_alias = _model_from_uri(outputs.get(Outputs.SERVING_MODEL_URI))
        model = model or served_name
        log_uri = log_uri or outputs.get("prediction_log_uri")
        tracking_uri = tracking_uri or outputs.get("tracking_uri")
        if not model:
            raise typer.BadParameter("no model: pass --model NAME (or --env ENV of a stack that serves one)")
        if not log_uri:
            raise typer.BadParameter("no prediction log: pass --log-uri URI (or --env ENV)")
        thresholds = Thresholds.from_config(
            config,
            stack=env,
            psi_threshold=psi_threshold,
            p_value=p_value,
            quality_tolerance=quality_tolerance,
            min_rows=min_rows,
        )
        labels_source = labels or thresholds.labels
        train_config = train_config or _project_path(thresholds.retrain.train_config)
        span = logsource.parse_window(window, since, until)
        registered = None
        if reference is not None:
            if not reference.is_file():
                raise typer.BadParameter(f"--reference {reference} does not exist; pass a reference_profile.json")
            profile = json.loads(reference.read_text())
        else:
            if not tracking_uri:
                raise typer.BadParameter("no tracking server: pass --tracking-uri URI, --env ENV or --reference PATH")
            from ml.monitor.reference import fetch_reference

            registered = fetch_reference(
                tracking_uri, model, version=model_version, alias=alias or served_alias or CHAMPION
            )
            profile = registered.profile
        request = MonitorRequest(
            profile=profile,
            model=model,
            thresholds=thresholds,
            window=span,
            model_version=registered.version if registered else model_version,
            task=registered.task if registered else None,
            labels=load_labels(labels_source) if labels_source else None,
            registered_metrics=registered.metrics if registered else {},
        )
        with console.status(f"monitoring {model} from {log_uri}"):
            outcome = monitor_log(request, log_uri)
    except (ValueError, LookupError, OSError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=int(ExitCode.ERROR)) from exc
    result = outcome.to_dict()
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "report.html").write_text(report.render_html(result))
    if log_run and tracking_uri:
        from ml.mlflow_log import run_links_off_stdout
        from ml.monitor.history import log_monitoring_run

        with run_links_off_stdout():  # stdout is the table or, with --json, pure JSON
            result["tracking_run_id"] = log_monitoring_run(
                tracking_uri, result, [out / "result.json", out / "report.html"]
            )
    if as_json:
        typer.echo(json.dumps(result, default=str))
    else:
        console.print(report.summary_table(result))
        console.print(
            f"{result['rows']} rows in {result['seconds']:.2f}s; drifted: "
            f"{', '.join(result['drifted_features']) or 'none'}; report: {out / 'report.html'}"
        )
    if retrain:
        from ml.mlflow_log import run_links_off_stdout

        with run_links_off_stdout():
            if environment is not None:
                _retrain_as_job(environment, outcome, result.get("tracking_run_id"), console, log_uri, train_config)
            else:
                _retrain(outcome, console, tracking_uri, log_uri, train_config)
    raise typer.Exit(code=int(outcome.exit_code))


def _project_path(path: str | None) -> Path | None:
    """A path the stack names, relative to the project (where Pulumi.yaml is)."""
    if path is None:
        return None
    from mlops.project import project

    return project().root / path


def _retrain_as_job(
    environment: Any, outcome: Any, run_id: str | None, console: Any, log_uri: str, train_config: Path | None
) -> None:
    """The closed loop (`mlops.loop.close`): a training job, then a promotion request."""
    wanted, reason = outcome.retrain
    if not wanted:
        console.print(f"no retrain: {reason}")
        return
    if not (train_config and outcome.request.labels is not None):
        typer.secho(
            f"error: --retrain needs labels for the window (--labels, or mlops:monitoring.labels of "
            f"'{environment.name}') and a training config (--train-config, or mlops:monitoring.retrain.trainConfig)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=1)
    from ml.validate import DataValidationError
    from mlops.loop.close import close_loop

    console.print(f"retraining as a job on the training cluster of '{environment.name}' because {reason}")
    try:
        code = close_loop(environment, outcome, run_id, log_uri=log_uri, train_config=train_config, console=console)
    except (ValueError, LookupError, OSError, DataValidationError) as exc:
        typer.secho(f"error: retrain failed: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    if code:
        raise typer.Exit(code=code)


def _retrain(outcome: Any, console: Any, tracking_uri: str | None, log_uri: str, train_config: Path | None) -> None:
    wanted, reason = outcome.retrain
    if not wanted:
        console.print(f"no retrain: {reason}")
        return
    if not (tracking_uri and train_config and outcome.request.labels is not None):
        typer.secho(
            "error: --retrain needs --labels (targets for the window), --train-config PATH and a "
            "tracking server (--tracking-uri or --env)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=1)
    from ml.monitor.retrain import retrain_challenger
    from ml.validate import DataValidationError

    console.print(f"retraining because {reason}")
    try:
        result = retrain_challenger(
            outcome,
            tracking_uri=tracking_uri,
            log_uri=log_uri,
            train_config=train_config,
            progress=lambda line: console.print(f"  {line}"),
        )
    except (ValueError, LookupError, OSError, DataValidationError) as exc:
        typer.secho(f"error: retrain failed: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    if result.challenger:
        console.print(
            f"registered {result.model_name} version {result.version} as challenger; promote it "
            f"through the gates with `mlops promote {result.model_name} --from ENV --to ENV`"
        )
    else:
        console.print(
            f"registered {result.model_name} version {result.version}, but its gates failed: it is not the challenger"
        )
