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
