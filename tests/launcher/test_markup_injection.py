"""User text (tags, model names from a config.json) never changes terminal markup or a report's links: a `[/]`
tag cannot crash `tunecost runs`, a rich [link] prints literally, Markdown link/emphasis syntax stays text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.launcher.reports.expense_report import build_report
from tunecost.launcher.views.expense_view import render
from tunecost.launcher.ledger.store import Ledger, now
from tunecost.launcher.ledger.run_record import RunRecord

LINK = "[link=https://evil.example]click to approve[/link]"
MD_LINK = "[approve refund](https://evil.example/pay) *now* _x_ `y` <b>"


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")


def _run(home: Path, run_id: str, tag: str, model: str = "tiny") -> RunRecord:
    ledger = Ledger(home)
    ledger.create(RunRecord(id=run_id, status="running", backend="local", created_at=now(), tag=tag, model=model,
                            provider="local", price_per_hour=1.0))
    ledger.set_status(run_id, "succeeded", actual_hours=1.0, actual_cost=1.0)
    return ledger.get(run_id)


@pytest.mark.parametrize("tag", ["[/]", LINK, "[bold red]x"])
def test_runs_prints_tags_literally(home, tag):
    _run(home, "tc-1", tag)
    result = CliRunner().invoke(app, ["runs"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert tag in result.stdout
    assert "\x1b]8;" not in result.stdout  # no OSC 8 hyperlink


def test_estimate_with_markup_in_the_config_name_prints_it(tmp_path):
    cfg = {"model_type": "llama", "hidden_size": 512, "num_attention_heads": 8, "num_key_value_heads": 8,
           "num_hidden_layers": 4, "vocab_size": 1000, "intermediate_size": 1024, "_name_or_path": "[/]"}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    result = CliRunner().invoke(app, ["estimate", "--model", str(tmp_path), "--gpu", "L4", "--tokens", "1000000"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert result.stdout.startswith("[/] on L4")


def test_markdown_report_keeps_link_and_emphasis_syntax_as_text(home):
    record = _run(home, "tc-1", MD_LINK)
    text = render(build_report([record]), "md")
    assert "\\[approve refund\\](https://evil.example/pay) \\*now\\* \\_x\\_ \\`y\\` &lt;b&gt;" in text
    assert "[approve refund](" not in text
    result = CliRunner().invoke(app, ["report", "--since", "2000-01-01"])  # rendered in the terminal
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "[approve refund](https://evil.example/pay)" in result.stdout and "\x1b]8;" not in result.stdout
