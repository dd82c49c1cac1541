"""`rmops`: the command line over the libraries (each command module registers its own commands)."""

from __future__ import annotations

import typer

from orchestration.cli import (
    ingest_commands,
    pipeline_commands,
    registry_commands,
    train_commands,
    validate_commands,
)

app = typer.Typer(
    name="rmops",
    help="Continuous training for reward models: feedback, datasets, training, gate, registry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _check_home() -> None:
    from orchestration.cli.common import fail
    from orchestration.settings import rmops_home

    home = rmops_home()
    if home.exists() and not home.is_dir():
        raise fail(f"RMOPS_HOME {home}: is a file; point it at a folder")


for module in (
    ingest_commands,
    train_commands,
    validate_commands,
    registry_commands,
    pipeline_commands,
):
    module.register(app)


@app.command()
def version() -> None:
    """Print the rmops version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("rmops"))


def main() -> None:
    """Console-script entry point."""
    app()
