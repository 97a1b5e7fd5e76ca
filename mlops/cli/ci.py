"""`mlops ci preview-comment`: the pull-request comment with every stack's preview, built locally or in CI."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops.cli.options import policy_pack_path

ci_app = typer.Typer(help="Continuous-integration helpers (the pull-request preview comment).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(ci_app, name="ci")


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise typer.BadParameter(
                f"'{value}' is not STACK=VALUE (for example dev=previews/dev.json)", param_hint=option
            )
        pairs[key] = rest
    return pairs


@ci_app.command("preview-comment")
def preview_comment(
    stacks: list[str] = typer.Option([], "--stack", "-s", help="Preview this stack now (repeatable)."),
    from_json: list[str] = typer.Option(
        [],
        "--from-json",
        metavar="STACK=FILE",
        help="Use a captured preview: `pulumi preview --json` (digest or streamed events), or a --save-dir file.",
    ),
    exit_codes: list[str] = typer.Option(
        [], "--exit-code", metavar="STACK=CODE", help="Exit code of a captured preview; non-zero marks it failed."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the comment to this file (default: stdout)."
    ),
    save_dir: Path | None = typer.Option(
        None, "--save-dir", help="Save each preview run by --stack as STACK.json here, for a later --from-json."
    ),
    policy_packs: list[str] = typer.Option([], "--policy-pack", help="Policy pack directory to run with --stack."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="Tracking server to read model versions from (default: each stack's output)."
    ),
    base_ref: str | None = typer.Option(
        None, "--base-ref", help="Git revision to compare each stack file's mlops:serving.modelUri against."
    ),
    commit: str | None = typer.Option(None, "--commit", help="Commit the previews are of, shown in the heading."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for a tracking server to answer."),
    fail_on_error: bool = typer.Option(
        False, "--fail-on-error", help="Exit 1 after writing the comment when any preview failed."
    ),
    print_marker: bool = typer.Option(
        False, "--print-marker", help="Print the hidden marker that starts the comment, and exit."
    ),
) -> None:
    """Build the pull-request comment: per stack, resource changes, replacements, policy violations and
    the serving model change with both versions' metrics and gates.

    Examples: `mlops ci preview-comment --stack local` previews and prints the comment;
    `mlops ci preview-comment --from-json dev=dev.json -o comment.md` uses a captured preview.
    """
    from mlops.previews.comment import MARKER

    if print_marker:
        typer.echo(MARKER)
        return
    captured = _pairs(from_json, "--from-json")
    codes = _pairs(exit_codes, "--exit-code")
    if not stacks and not captured:
        raise typer.BadParameter(
            "name stacks to preview with --stack, or captured previews with --from-json STACK=FILE"
        )
    overlap = sorted(set(stacks) & set(captured))
    if overlap:
        raise typer.BadParameter(f"{', '.join(overlap)} given both with --stack and --from-json: choose one")
    from mlops.previews.build import build_reports
    from mlops.previews.comment import render

    try:
        exit_by_stack = {stack: int(code) for stack, code in codes.items()}
    except ValueError as exc:
        raise typer.BadParameter(f"exit codes must be integers ({exc})", param_hint="--exit-code") from exc
    from mlops.previews.stackconfig import BaseRefError
    from mlops.stacks import EnvironmentUnavailable

    try:
        reports = build_reports(
            run=stacks,
            captured={stack: Path(path) for stack, path in captured.items()},
            exit_codes=exit_by_stack,
            save_dir=save_dir,
            policy_packs=[policy_pack_path(path) for path in policy_packs],
            # An empty --tracking-uri means "do not read any tracking server".
            tracking_uri=tracking_uri,
            base_ref=base_ref,
            timeout=timeout,
            progress=lambda message: typer.secho(message, err=True),
        )
    except (BaseRefError, EnvironmentUnavailable) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    body = render(reports, commit=commit)
    if output is None:
        typer.echo(body, nl=False)
    else:
        output.write_text(body, encoding="utf-8")
        typer.secho(f"Wrote the comment for {len(reports)} stack(s) to {output}.", err=True)
    failed = [r.stack for r in reports if r.failed]
    if failed:
        typer.secho(f"Preview failed for: {', '.join(failed)}.", fg=typer.colors.RED, err=True)
        if fail_on_error:
            raise typer.Exit(code=1)
