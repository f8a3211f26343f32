"""The app itself: its version from the installed metadata, and every command registered by name in cli.py."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from tunecost.launcher.cli import app

COMMANDS = {"plan", "estimate", "prices", "launch", "runs", "stop", "report", "calibrate", "demo"}


def test_version_is_the_installed_packages():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"tunecost {version('tunecost')}\n"


def test_every_command_is_registered_once():
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert sorted(names) == sorted(COMMANDS)
    for name in COMMANDS:
        assert CliRunner().invoke(app, [name, "--help"]).exit_code == 0, name
