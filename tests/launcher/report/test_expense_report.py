"""Expense reports over real local runs (conftest.py): totals add up, CSV/HTML/JSON parse, tags are escaped."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pandas as pd
import pytest

from tunecost.launcher.output_file import write_output
from tunecost.launcher.reports.expense_report import build_report
from tunecost.launcher.views.expense_view import CSV_COLUMNS, render
from tunecost.launcher.ledger.store import Ledger, now
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.planner.errors import UserError

pytestmark = pytest.mark.slow  # real training runs

EVIL = "<script>alert(1)</script>"


def _cents(x: float) -> Decimal:
    return Decimal(str(x))


def test_totals_equal_the_sum_of_line_items(real_runs):
    report = build_report([real_runs.free, real_runs.priced])
    assert {i.reference for i in report.items} == {real_runs.free.id, real_runs.priced.id}
    line_sum = sum(_cents(i.amount) for i in report.items)
    assert _cents(report.total) == line_sum
    assert sum(_cents(t.amount) for t in report.by_provider) == line_sum
    assert sum(_cents(t.amount) for t in report.by_tag) == line_sum
    assert {t.key for t in report.by_tag} == {EVIL, "team-a"}
    assert report.total_hours == pytest.approx(sum(i.quantity for i in report.items), abs=1e-4)


def test_line_item_is_billed_hours_times_rate_rounded_to_the_cent(real_runs):
    item = build_report([real_runs.priced]).items[0]
    s = item.summary
    assert item.quantity == pytest.approx(s.billed_seconds / 3600, abs=1e-4)
    assert item.unit_price == real_runs.priced.rate
    assert item.amount == round(s.compute_cost, 2)
    assert (item.currency, item.reference, item.vendor) == ("USD", real_runs.priced.id,
                                                            "local machine (no vendor bill)")


def test_unfinished_runs_are_left_out_and_named(real_runs):
    pending = RunRecord(id="still-going", status="running", backend="local", created_at=now(), provider="local")
    report = build_report([real_runs.priced, pending])
    assert [i.reference for i in report.items] == [real_runs.priced.id]
    assert any("still-going" in note for note in report.notes)


def test_no_finished_runs_is_a_user_error():
    pending = RunRecord(id="p", status="pending", backend="local", created_at=now())
    with pytest.raises(UserError, match="no finished runs"):
        build_report([pending])


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text, self.urls = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_via_cli_parses_escapes_the_tag_and_is_self_contained(real_runs, tunecost_cli, tmp_path):
    out = tmp_path / "report.html"
    done = tunecost_cli(real_runs.home, "report", "--format", "html", "--out", str(out))
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    parser = _Collect()
    parser.feed(html)
    parser.close()
    assert "script" not in parser.tags, "a run tag became a live <script> element"
    assert EVIL in "".join(parser.text)  # shown as text, escaped in the source
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "svg" in parser.tags and parser.tags.count("rect") >= 2
    assert parser.urls == [], "the report must not load external assets"
    assert "@media print" in html and "@page" in html
    assert list(tmp_path.iterdir()) == [out], "no temp file left behind"


def test_csv_via_cli_parses_with_pandas_and_matches_the_json_total(real_runs, tunecost_cli, tmp_path):
    csv_path = tmp_path / "report.csv"
    assert tunecost_cli(real_runs.home, "report", "--format", "csv", "--out", str(csv_path)).returncode == 0
    frame = pd.read_csv(csv_path, dtype={"amount": str})
    assert list(frame.columns) == CSV_COLUMNS
    assert set(frame["reference"]) == {real_runs.free.id, real_runs.priced.id}
    assert (frame["currency"] == "USD").all()
    done = tunecost_cli(real_runs.home, "report", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert sum(Decimal(a) for a in frame["amount"]) == _cents(data["total"])
    assert len(data["items"]) == 2


def test_markdown_report_escapes_the_tag_and_lists_what_is_not_included(real_runs):
    text = render(build_report([real_runs.free, real_runs.priced]), "md")
    assert EVIL not in text and "&lt;script&gt;" in text
    assert "do not include" in text and "electricity" in text
    assert "| **Total** |" in text


def test_tag_filter_and_date_range_select_runs(real_runs, tunecost_cli):
    done = tunecost_cli(real_runs.home, "report", "--tag", "team-a", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [i["reference"] for i in json.loads(done.stdout)["items"]] == [real_runs.priced.id]
    today = real_runs.priced.created_at.date().isoformat()
    done = tunecost_cli(real_runs.home, "report", "--since", today, "--until", today, "--format", "json")
    assert len(json.loads(done.stdout)["items"]) == 2  # --until includes its whole day


def test_json_is_format_json(real_runs, tunecost_cli):
    by_flag = tunecost_cli(real_runs.home, "report", "--json")
    by_format = tunecost_cli(real_runs.home, "report", "--format", "json")
    assert by_flag.returncode == by_format.returncode == 0, by_flag.stderr + by_format.stderr
    strip = lambda text: {k: v for k, v in json.loads(text).items() if k != "generated_at"}  # noqa: E731
    assert strip(by_flag.stdout) == strip(by_format.stdout) and len(json.loads(by_flag.stdout)["items"]) == 2


def test_since_and_until_take_a_time_of_day(real_runs, tunecost_cli):
    """Dates are typer datetime options: a time is an exact bound, here one second around the two runs."""
    created = sorted(r.created_at for r in (real_runs.free, real_runs.priced))
    before = (created[0] - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    after = (created[-1] + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    done = tunecost_cli(real_runs.home, "report", "--since", before, "--until", after, "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["items"]) == 2
    done = tunecost_cli(real_runs.home, "report", "--until", before, "--json")
    assert done.returncode == 2 and done.stderr.startswith("error: no runs from the first run to ")


def test_empty_range_is_one_clear_line_and_writes_nothing(real_runs, tunecost_cli, tmp_path):
    out = tmp_path / "empty.html"
    done = tunecost_cli(real_runs.home, "report", "--since", "2099-01-01", "--format", "html", "--out", str(out))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no runs from 2099-01-01")
    assert "Traceback" not in done.stderr and not out.exists()


def test_bad_date_and_bad_format_are_refused(real_runs, tunecost_cli):
    done = tunecost_cli(real_runs.home, "report", "--since", "2026-13-01")
    assert done.returncode == 2 and "YYYY-MM-DD" in done.stderr
    done = tunecost_cli(real_runs.home, "report", "--format", "pdf")
    assert done.returncode == 2 and "md, html, csv, json" in done.stderr


def test_running_runs_in_range_are_left_out_of_the_report(real_runs, tunecost_cli, tmp_path):
    # a managed cloud job stays `running` until SkyPilot says otherwise; a local `running` record with no live
    # process is closed as `stopped` when the ledger is read (tests/launcher/test_live_runs.py)
    home = real_runs.ledger_copy(tmp_path / "home")
    Ledger(home).create(RunRecord(id="in-flight", status="running", backend="sky-managed",
                                  created_at=now() + timedelta(seconds=1), provider="runpod"))
    done = tunecost_cli(home, "report", "--format", "md")
    assert done.returncode == 0, done.stderr
    assert "left out: in-flight (running" in done.stdout


def test_write_output_refuses_a_missing_folder_and_replaces_whole_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_output(tmp_path / "nope" / "r.md", "x", "--out")
    target = tmp_path / "r.md"
    target.write_text("old report")
    write_output(target, "new report", "--out")
    assert target.read_text() == "new report"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]


def test_csv_text_is_read_back_by_pandas(real_runs):
    text = render(build_report([real_runs.priced]), "csv")
    frame = pd.read_csv(io.StringIO(text))
    assert frame.loc[0, "quantity"] == pytest.approx(build_report([real_runs.priced]).items[0].quantity)


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_every_amount_in_a_report_has_the_same_decimal_places(real_runs, fmt):
    """A priced local run costs a fraction of a cent: its unit price, amount, estimate and actual cost all show four
    places, where the line item used to read 0.0000 beside 0.00 and the estimate 0.00 beside 0.0042."""
    import re

    from tunecost.launcher.views.expense_view import money_places

    report = build_report([real_runs.free, real_runs.priced])
    places = money_places(report)
    assert places == 4  # the priced run's cost is under ten cents
    text = render(report, fmt)
    item = next(line for line in text.splitlines() if real_runs.priced.id in line and "local" in line)
    rates = re.findall(r"(?<![\d.])[+-]?\d+\.(\d+)(?![\d.%])", item.replace(",", ""))
    assert len(rates) >= 3 and {len(d) for d in rates} == {4}, item  # hours, unit price, amount
