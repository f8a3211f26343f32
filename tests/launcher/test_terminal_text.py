"""User text reaches no terminal, Markdown, HTML or CSV raw: control characters (ESC sequences, OSC, BEL, C1) and
bidi overrides are stripped where text leaves (launcher/views/safe_text.py), spreadsheet formulas are guarded
with a leading `'`, and the ledger and --json keep what the user typed. Real CLI, in-process (CliRunner)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.ledger.store import Ledger, now
from tunecost.launcher.views.safe_text import csv_cell

CLEAR = "\x1b[2J\x1b[31m"  # clear the screen, then red
TITLE = "\x1b]0;pwned\x07"  # OSC: set the window title, ended by BEL
LINK = "\x1b]8;;https://evil.example\x1b\\"  # OSC 8: a hidden hyperlink
BIDI = "\u202egpj.exe"  # right-to-left override: reads as exe.jpg
C1 = "\x9b2J"  # the 8-bit CSI
RAW = (CLEAR, TITLE, LINK, BIDI, C1)
UNSAFE = ("\x1b", "\x07", "\x9b", "\u202e")


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")


def _run(home: Path, tag: str, provider: str = "local") -> None:
    ledger = Ledger(home)
    ledger.create(RunRecord(id="tc-1", status="running", backend="local", created_at=now(), tag=tag,
                            provider=provider, price_per_hour=1.0, model="tiny"))
    ledger.set_status("tc-1", "succeeded", actual_hours=0.5, note=TITLE + "done")


def _out(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.mark.parametrize("raw", RAW, ids=["clear-screen", "osc-title", "osc8-link", "bidi", "c1-csi"])
@pytest.mark.parametrize("command", [["runs"], ["report"], ["report", "--format", "md"], ["report", "-f", "csv"],
                                     ["report", "-f", "html"], ["report", "--since", "2000-01-01"]],
                         ids=["runs", "summary", "md", "csv", "html", "md-in-terminal"])
def test_control_and_bidi_characters_in_a_tag_never_reach_the_output(home, raw, command):
    _run(home, f"exp{raw}X", provider=f"acme{raw}")
    out = _out(*command)
    assert not any(c in out for c in UNSAFE), repr(out)
    assert "X" in out and "acme" in out


def test_the_ledger_and_json_keep_what_the_user_typed(home):
    _run(home, f"exp{CLEAR}X")
    [row] = json.loads(_out("runs", "--json"))
    assert row["tag"] == f"exp{CLEAR}X"


def test_a_provider_name_from_a_price_csv_is_clean_in_the_plan_table_and_page(tmp_path):
    prices = tmp_path / "p.csv"
    prices.write_text(f"provider,instance_type,gpu,gpu_count,price_per_hour\nacme{CLEAR}{BIDI},x1{TITLE},A100-80GB,"
                      "1,0.01\n")
    page = tmp_path / "plan.html"
    out = _out("plan", "--params", "1B", "--tokens", "1000000", "--prices", str(prices), "--html", str(page))
    assert "acme" in out and not any(c in out for c in UNSAFE), repr(out)
    html = page.read_text()
    assert "acme" in html and not any(c in html for c in UNSAFE)


def test_an_error_line_quoting_user_text_is_clean():
    result = CliRunner().invoke(app, ["plan", "--model", f"org/{CLEAR}model{TITLE}"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "model" in line and not any(c in line for c in UNSAFE), repr(line)


def test_expense_csv_guards_formulas_and_keeps_numbers(home):
    _run(home, "=HYPERLINK(\"https://evil.example\",\"ok\")", provider="@SUM(A1)")
    rows = list(csv.DictReader(io.StringIO(_out("report", "-f", "csv"))))
    assert rows[0]["vendor"] == "'@SUM(A1)"
    assert rows[0]["amount"] == "0.50" and rows[0]["quantity"] == "0.5"


@pytest.mark.parametrize("cell, written", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@A1", "'@A1"), ("\t=1", "'\t=1"), ("\r=1", "'=1"),
    ("-1.5", "-1.5"), ("+3", "+3"), ("runpod", "runpod"), (2.5, 2.5), (f"a{CLEAR}b", "a[2J[31mb"),
])
def test_csv_cell(cell, written):
    assert csv_cell(cell) == written
