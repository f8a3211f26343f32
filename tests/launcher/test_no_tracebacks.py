"""Bad files and bad places to write: one `error:` line (what, where, how to fix), exit 2, no traceback, and
nothing replaced. Run in-process through typer's CliRunner (the app's own error handling)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.launcher.ledger.run_folder import CONFIG_NAME
from tunecost.launcher.ledger.store import Ledger, now
from tunecost.launcher.ledger.run_record import RunRecord

MODEL = ["--model", "meta-llama/Llama-3.1-8B"]


def _one_line(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.output
    return line


def test_plan_dataset_that_is_not_utf8_names_the_line(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    line = _one_line("plan", *MODEL, "--dataset", str(data))
    assert f"{data.name}:2" in line and "not UTF-8" in line


@pytest.mark.parametrize("where", ["/proc/plan.json", "FILE/plan.json"], ids=["unwritable", "parent-is-a-file"])
def test_plan_save_where_it_cannot_be_written(tmp_path, where):
    (tmp_path / "FILE").write_text("x")
    target = where if where.startswith("/") else str(tmp_path / where)
    line = _one_line("plan", *MODEL, "--tokens", "1000000", "--save", target)
    assert target in line and "--save" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_plan_save_into_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    line = _one_line("plan", *MODEL, "--tokens", "1000000", "--save", str(folder / "p.json"))
    assert "cannot write" in line


def _a_run(home: Path) -> None:
    ledger = Ledger(home)
    ledger.create(RunRecord(id="tc-1", status="running", backend="local", created_at=now(), tag="t"))
    ledger.set_status("tc-1", "succeeded", actual_hours=0.5)


def test_report_out_where_it_cannot_be_written(home):
    _a_run(home)
    line = _one_line("report", "--format", "md", "--out", "/proc/report.md")
    assert "/proc/report.md" in line and "--out" in line


@pytest.mark.parametrize("key, value, what", [
    ("num_attention_heads", 0, "num_attention_heads must be a positive whole number, got 0"),
    ("num_key_value_heads", "two", "num_key_value_heads must be a positive whole number, got 'two'"),
    ("num_hidden_layers", -12, "num_hidden_layers must be a positive whole number, got -12"),
    ("hidden_size", None, "lacks hidden_size"),
])
def test_model_config_with_impossible_numbers(tmp_path, key, value, what):
    cfg = {"model_type": "llama", "hidden_size": 512, "num_attention_heads": 8, "num_key_value_heads": 8,
           "num_hidden_layers": 4, "vocab_size": 1000, "intermediate_size": 1024}
    cfg = {k: v for k, v in {**cfg, key: value}.items() if v is not None}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    line = _one_line("estimate", "--model", str(tmp_path), "--gpu", "L4", "--tokens", "1000000")
    assert what in line and "config.json" in line


def _ledger_with_a_run(home: Path) -> Path:
    _a_run(home)
    return home / "ledger.sqlite"


@pytest.mark.parametrize("damage", ["truncated", "random-bytes", "empty"])
@pytest.mark.parametrize("command", [["runs"], ["report"], ["launch", "--local", "--resume", "tc-1"]])
def test_a_damaged_ledger_is_one_line_and_is_kept(home, damage, command):
    path = _ledger_with_a_run(home)
    data = path.read_bytes()
    broken = {"truncated": data[: len(data) // 2 + 100], "random-bytes": os.urandom(len(data)),
              "empty": b""}[damage]
    path.write_bytes(broken)
    line = _one_line(*command)
    assert str(path) in line and ("damaged" in line or "empty" in line)
    assert "tunecost runs --repair" in line
    assert path.read_bytes() == broken  # never replaced silently


def test_runs_repair_backs_up_and_rebuilds_from_the_run_folders(home):
    """A local run's folder (job config + the job's summary) is enough to put it back in the ledger."""
    folder = home / "runs" / "tc-261101-100000-abcd"
    (folder / "output").mkdir(parents=True)
    (folder / CONFIG_NAME).write_text(json.dumps({"model": "tiny", "method": "lora", "run_id": folder.name}))
    (folder / "output" / "run_summary.json").write_text(json.dumps(
        {"steps": 20, "stop_reason": "max_steps", "session_seconds": 36.0, "total_seconds": 36.0,
         "device": "cpu (2 cores)", "run_id": folder.name}))
    path = home / "ledger.sqlite"
    path.write_bytes(b"garbage" * 100)
    result = CliRunner().invoke(app, ["runs", "--repair"])
    assert result.exit_code == 0, result.output
    backups = list(home.glob("ledger.sqlite.damaged-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == b"garbage" * 100
    [run] = Ledger(home).list()
    assert run.id == folder.name and run.status == "succeeded" and run.summary.steps == 20
    assert run.actual_hours == pytest.approx(0.01) and "rebuilt" in run.history[-1].note
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_runs_repair_refuses_a_healthy_ledger(home):
    """Rebuilding would lose cloud runs (their summaries are in the bucket): only a damaged ledger is rebuilt."""
    path = _ledger_with_a_run(home)
    before = path.read_bytes()
    assert "is not damaged" in _one_line("runs", "--repair")
    assert path.read_bytes() == before and not list(home.glob("ledger.sqlite.damaged-*"))


@pytest.mark.parametrize("command", [["runs"], ["report"], ["report", "--format", "md"], ["calibrate"]])
@pytest.mark.parametrize("flag, value", [("--since", "2026-13-01"), ("--until", "yesterday"),
                                         ("--since", "2026-11-01T25:00:00")])
def test_a_bad_date_is_one_line_naming_the_flag_and_the_format(home, command, flag, value):
    """The dates are typer datetime options; click's refusal becomes one line that shows what a date looks like."""
    _a_run(home)
    line = _one_line(*command, flag, value)
    assert line == f"error: --{flag[2:]} '{value}' is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC), " \
                   f"e.g. {flag} 2026-11-01"


@pytest.mark.parametrize("command", ["runs", "report", "calibrate"])
def test_until_before_since_is_one_line(home, command):
    _a_run(home)
    line = _one_line(command, "--since", "2026-11-02", "--until", "2026-11-01T12:00:00")
    assert line == "error: --until 2026-11-01T12:00:00 is before --since 2026-11-02; swap them"


def test_report_json_and_format_of_another_kind_is_one_line(home):
    _a_run(home)
    line = _one_line("report", "--json", "--format", "md")
    assert "--json" in line and "--format md" in line
