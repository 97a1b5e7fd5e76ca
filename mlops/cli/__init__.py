"""The `mlops` command line: one Typer app; each lifecycle verb registers its commands from its own module.

Command modules import heavy libraries (mlflow, sklearn, pandas) inside the command functions, so that
`mlops --help` and the fast commands stay fast.
"""

from __future__ import annotations

import logging

import typer

from mlops.cli import ci, cluster, data, demo, env, loop, models, monitor, promote, serve, train

app = typer.Typer(
    name="mlops",
    help="Stand up ML environments with Pulumi and train, register, promote, serve and monitor models on them.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for _module in (env, cluster, data, train, models, serve, monitor, loop, promote, ci, demo):
    _module.register(app)


def main() -> None:
    app()
