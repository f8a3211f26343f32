"""Cost summaries of real local runs of the tiny model (see conftest.py): billed time, cost, notes, CLI."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from rich.console import Console

from tunecost.launcher.reports.cost_summary import LOCAL_RATE_ZERO, summarize
from tunecost.launcher.views.summary_view import print_summary
from tunecost.launcher.ledger.store import Ledger
from tunecost.planner.quote import Quote

from ..conftest import SINGLE, quote

pytestmark = pytest.mark.slow  # real training runs


def _seconds(record) -> float:
    """Running seconds as the ledger has them: the launcher's measured hours, else first start to last end."""
    if record.actual_hours is not None:
        return record.actual_hours * 3600
    return (record.ended_at - record.started_at).total_seconds()


def test_priced_local_run_bills_every_started_second_at_the_rate(real_runs):
    rec = real_runs.priced
    s = summarize(rec)
    assert s.time_source in ("launcher's measured running time", "ledger start to end")
    assert s.actual_seconds == pytest.approx(_seconds(rec))
    assert s.billed_seconds == math.ceil(_seconds(rec) - 1e-9)
    assert s.compute_cost == pytest.approx(s.billed_seconds / 3600 * rec.rate)
    assert s.compute_cost > 0
    tokens = rec.summary.train_tokens
    assert s.train_tokens == tokens > 0
    assert s.usd_per_million_tokens == pytest.approx(s.compute_cost / tokens * 1e6)
    assert s.final_loss == pytest.approx(rec.summary.final_loss)
    assert s.peak_memory_gib == pytest.approx(rec.summary.peak_memory_gib)
    assert LOCAL_RATE_ZERO not in s.notes
    assert s.not_included, "the summary must say what it does not include"


def test_free_local_run_says_rate_zero_and_how_to_price_it(real_runs):
    s = summarize(real_runs.free)
    assert s.rate_per_hour == 0 and s.compute_cost == 0
    assert s.usd_per_million_tokens is None
    assert LOCAL_RATE_ZERO in s.notes
    assert any("electricity" in text for text in s.not_included)


def test_estimate_difference_is_actual_minus_estimate_in_hours_and_dollars(real_runs):
    rec = real_runs.priced.model_copy(update={"estimated_hours": 0.001, "estimated_cost": 0.002})
    s = summarize(rec)
    actual_hours = _seconds(rec) / 3600
    assert s.hours_diff == pytest.approx(actual_hours - 0.001)
    assert s.hours_diff_pct == pytest.approx((actual_hours - 0.001) / 0.001 * 100)
    assert s.cost_diff == pytest.approx(s.compute_cost - 0.002)
    assert s.cost_diff_pct == pytest.approx((s.compute_cost - 0.002) / 0.002 * 100)


def test_estimate_is_read_from_the_plan_when_the_record_has_none(real_runs):
    local = Quote.model_validate({**quote(provider="local", price=1.8, hours=0.5), "peak_gib_per_gpu": 0.3})
    plan = SINGLE.model_copy(update={"chosen": local})
    none = {"estimated_hours": None, "estimated_cost": None, "estimated_peak_gib": None}  # a local run records its
    # own since --dataset demo is counted; a record from before that, or of an unknown model, has none
    s = summarize(real_runs.priced.model_copy(update={"plan": plan, **none}))
    assert (s.estimated_hours, s.estimated_cost, s.estimated_peak_gib) == (0.5, 0.9, 0.3)


def test_real_run_repriced_as_an_aws_spot_instance_pays_the_60_second_minimum(real_runs):
    rec = real_runs.priced
    short = rec.model_copy(update={"offer": rec.offer.model_copy(update={"provider": "aws", "spot": True}), "backend": "sky-managed",
                                   "ended_at": rec.started_at + timedelta(seconds=7), "actual_hours": 7 / 3600})
    s = summarize(short)
    assert s.billed_seconds == 60
    assert s.compute_cost == pytest.approx(60 / 3600 * rec.rate)
    assert s.billing_source.startswith("https://aws.amazon.com/")
    assert any("controller" in text for text in s.not_included)


def test_resumed_run_bills_its_running_sessions_not_the_days_it_sat_stopped(real_runs):
    rec = real_runs.priced
    ran = (rec.ended_at - rec.started_at).total_seconds()
    resumed = rec.model_copy(update={"ended_at": rec.ended_at + timedelta(days=2), "actual_hours": ran / 3600})
    s = summarize(resumed)
    assert s.time_source == "launcher's measured running time"
    assert s.billed_seconds == math.ceil(ran - 1e-9)


def test_unfinished_run_bills_nothing_and_says_why(real_runs):
    running = real_runs.priced.model_copy(update={"status": "running", "ended_at": None, "summary": None,
                                                  "actual_hours": None})
    s = summarize(running)
    assert s.actual_seconds is None and s.billed_seconds == 0
    assert any("no end time yet" in note for note in s.notes)


def test_print_summary_shows_tag_verbatim_and_what_is_not_included(real_runs):
    console = Console(record=True, width=200)
    print_summary(summarize(real_runs.free), console)
    text = console.export_text()
    assert real_runs.free.tag in text  # rich markup must not eat "[...]" or tags
    assert "NOT included" in text and LOCAL_RATE_ZERO in text
    assert real_runs.free.id in text


def test_report_command_prints_the_latest_run_summary(real_runs, tunecost_cli):
    done = tunecost_cli(real_runs.home, "report")
    assert done.returncode == 0, done.stderr
    latest = Ledger(real_runs.home).list()[-1]
    assert f"Cost summary: {latest.id} (succeeded, local), tag {latest.tag}" in " ".join(done.stdout.split())
    assert "ran" in done.stdout and "compute cost" in done.stdout


def test_report_command_for_an_unknown_run_is_one_clear_line(real_runs, tunecost_cli):
    done = tunecost_cli(real_runs.home, "report", "no-such-run")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no run 'no-such-run'")
