"""`tunecost demo` runs its steps through the CLI that is running it (fast: the steps replaced by cheap ones; the
real demo is tests/launcher/test_demo.py)."""

import pytest

from tunecost.launcher.cli import app
from tunecost.launcher.commands import demo


@pytest.fixture
def steps(monkeypatch, home):
    monkeypatch.setattr(demo, "_check_model_package", lambda: None)
    monkeypatch.setattr(demo, "_prepare_model", lambda: None)

    def use(commands: list[list[str]]) -> None:
        monkeypatch.setattr(demo, "demo_commands", lambda *args: commands)

    return use


def test_each_step_is_printed_then_run_by_the_same_app(steps, capsys):
    steps([["prices", "--help"], ["plan", "--help"]])
    app(args=["demo"], prog_name="tunecost", standalone_mode=False)
    out, err = capsys.readouterr()
    assert "$ tunecost prices --help" in err and "$ tunecost plan --help" in err
    assert "refresh" in out and "--budget" in out  # each command's own help: the steps ran


def test_a_failing_step_stops_the_demo_with_its_exit_code(steps, capsys):
    steps([["prices", "--no-such-flag"], ["plan", "--help"]])
    with pytest.raises(SystemExit) as stop:
        app(args=["demo"], prog_name="tunecost")
    assert stop.value.code == 2
    assert "$ tunecost plan --help" not in capsys.readouterr().err


def test_each_command_is_shown_folded_to_the_terminal_and_pastes_back_as_the_same_arguments():
    import shlex
    from pathlib import Path

    plan_path = Path.home() / ".tunecost" / "demo plan.json"  # a space: quoted, still one argument
    for args in demo.demo_commands(plan_path, 0.5, 4):
        shown = demo.shown_command(args, 80)
        lines = shown.splitlines()
        assert all(len(line) <= 80 for line in lines) and lines[0].startswith("$ tunecost ")
        assert all(line.endswith(" \\") for line in lines[:-1])  # continued as a shell reads it
        typed = shlex.split(shown.removeprefix("$ ").replace(" \\\n", " "))
        home = str(Path.home())
        assert [word.replace("~", home, 1) if word.startswith("~/") else word for word in typed] == ["tunecost", *args]
        assert not any(line.rstrip(" \\").endswith(("--model", "--dataset", "--save")) for line in lines)
    assert "--save ~/'.tunecost/demo plan.json'" in demo.shown_command(demo.demo_commands(plan_path, None, None)[0], 80)
