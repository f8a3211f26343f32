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


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def test_h_is_help_on_every_command_and_flags_carry_no_bool_tag():
    for command in [[], *([name] for name in sorted(COMMANDS)), ["prices", "refresh"]]:
        text = _help(*command, "-h")
        assert text == _help(*command, "--help"), command
        assert "<bool>" not in text, command  # a flag takes no value; the tag read as if it did


def test_shell_completion_installs_and_completes(tmp_path):
    """typer's completion through the real console script: the script it installs, and a completion it answers."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("tunecost")
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    done = subprocess.run([str(script), "--install-completion", "bash"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "_TUNECOST_COMPLETE" in (tmp_path / ".bash_completions" / "tunecost.sh").read_text()
    words = {**env, "_TUNECOST_COMPLETE": "complete_bash", "COMP_WORDS": "tunecost pl", "COMP_CWORD": "1"}
    done = subprocess.run([str(script)], env=words, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["plan"]


def test_launch_says_what_it_does_with_the_dataset():
    launch, plan = _help("launch", "-h"), _help("plan", "-h")
    assert "JSONL file to train on: the job reads it" in launch and "the job reads it" not in plan
    assert "JSONL training file to count tokens from" in plan and "count tokens from" not in launch


def test_a_default_written_in_a_help_text_is_shown_not_read_as_markup():
    """typer reads help as rich markup, where "[default: 10M]" was a tag and vanished from --help."""
    assert "Training tokens per epoch [default: 10M]" in _help("plan", "-h")
    assert "[default: 0]" in _help("launch", "-h") and "[or give the workload flags]" in _help("launch", "-h")
    assert "[default: 2 epochs, 72 steps]" in _help("demo", "-h")
