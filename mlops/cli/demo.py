"""`mlops demo`: the main job on one environment, stage by stage, with timings."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    env: str = typer.Option("local", "--env", help="Environment (stack) to run the demo on."),
    example: Path = typer.Option(
        Path("examples/breast_cancer"), "--example", help="Folder with dataset.yaml and train.yaml."
    ),
    rows: int = typer.Option(5, "--rows", help="How many rows to send to the serving endpoint."),
) -> None:
    """Bring ENV up, validate the example data, train, alias the model champion, roll it out and predict."""
    from ml.smoke import SmokeTestFailed
    from mlops.demo import DemoFailed, run, summary
    from mlops.stacks import EnvironmentUnavailable

    try:
        result = run(env, example, typer.echo, rows=rows)
    except (DemoFailed, EnvironmentUnavailable, SmokeTestFailed) as exc:
        typer.secho(f"\ndemo failed: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    typer.secho(summary(result), fg=typer.colors.GREEN)
