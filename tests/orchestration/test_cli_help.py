"""Every `rmops` command and sub-command answers `--help`."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from orchestration.cli import app


def _paths(command, prefix: list[str]) -> list[list[str]]:
    """Argument paths of every leaf command (typer vendors its own click: no isinstance)."""
    if not getattr(command, "commands", None):
        return [prefix]
    return [p for name, sub in command.commands.items() for p in _paths(sub, [*prefix, name])]


def test_every_command_has_help():
    paths = _paths(typer.main.get_command(app), [])
    assert ["serve"] in paths and ["datasets", "show"] in paths and len(paths) >= 18
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, (path, result.output)
