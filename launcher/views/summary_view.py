"""One run's bill as text: the lines `launch` prints when a run ends, and the table `tunecost report RUN` prints.

WHY apart from the bill (reports/cost_summary.py): the summary is the data the expense report, calibrate and
these views all read; how it reads in a terminal is the view's alone.
"""

from __future__ import annotations

from typing import Optional

from tunecost.launcher.reports.cost_summary import LOCAL_RATE_ZERO, CostSummary
from tunecost.planner.money import money


def _signed(diff: Optional[float], pct: Optional[float], unit: str) -> str:
    if diff is None:
        return "n/a (no estimate)"
    amount = f"{diff:+,.4f} {unit}" if unit == "h" else f"{'+' if diff >= 0 else '-'}{money(abs(diff))}"
    return f"{amount} ({pct:+.1f}%)" if pct is not None else amount


def _tokens(s: CostSummary) -> str:
    """'11,110 trained, 12,342 planned (-10.0%: 10% held out)': the plan counts the rows held out for eval, the job
    trains on the rest (one line of the summary at 80 columns)."""
    if not s.train_tokens:
        return "n/a"
    if not s.planned_tokens:
        return f"{s.train_tokens:,} trained"
    pct = (s.train_tokens - s.planned_tokens) / s.planned_tokens * 100
    why = [f"{s.held_out:.0%} held out" if s.held_out else "",
           "stopped at --max-steps" if s.stop_reason == "max_steps" else ""]
    reasons = "; ".join(filter(None, why))
    return f"{s.train_tokens:,} trained, {s.planned_tokens:,} planned ({pct:+.1f}%" + (f": {reasons})" if reasons else ")")


def _eval(s: CostSummary) -> str:
    """'2.4123 before training, 0.2830 after' (what is known of it)."""
    before = f"{s.eval_loss_before:.4f} before training" if s.eval_loss_before is not None else "none before training"
    return before + (f", {s.eval_loss:.4f} after" if s.eval_loss is not None else ", none after")


def outcome_lines(s: CostSummary, note: str = "") -> list[str]:
    """What `launch` prints when a run ends: its outcome in two lines, plus the ledger's `note` on why unless it
    succeeded, and where a local run's adapter is. The bill is `tunecost report`'s, so the summary is printed once,
    where it is asked for; the eval losses are the job's own last lines."""
    took = f" in {s.actual_seconds / 60:.1f} min" if s.actual_seconds is not None else ""
    if s.estimated_hours is not None and s.actual_seconds is not None:
        took += f" (estimated {s.estimated_hours * 60:.1f} min)"
    done = f"{s.steps} steps" if s.steps is not None else "no steps recorded"
    loss = f", final loss {s.final_loss:.4f}" if s.final_loss is not None else ""
    lines = [f"run {s.run_id} {s.status}: {done}{took}{loss}; compute cost {money(s.compute_cost)}"
             + (" (local rate 0 $/h)" if s.is_local and s.rate_per_hour == 0 else "")]
    if note and s.status != "succeeded":
        lines.append(f"why: {note}")
    if s.is_local and s.adapter_dir:  # a cloud job's folder is on its VM: the bucket holds it
        what = "model" if s.method == "full" else "adapter"
        lines.append(f"{what}: {s.adapter_dir}")
    lines.append(f"its bill, estimate vs actual and tokens: tunecost report {s.run_id}")
    return lines


def summary_rows(s: CostSummary) -> list[tuple[str, str]]:
    """The summary as (label, value) rows: one source for the terminal table and tests."""
    when = s.ended_at or s.started_at or s.created_at
    started = s.started_at.strftime("%Y-%m-%d %H:%M:%S UTC") if s.started_at else "not started"
    ended = s.ended_at.strftime("%Y-%m-%d %H:%M:%S UTC") if s.ended_at else "not ended"
    rows = [
        ("dates", f"{started} -> {ended}" if s.started_at else when.strftime("%Y-%m-%d")),
        ("job", f"{s.method or '?'} fine-tune of {s.model or '?'}"),
        ("where", "this machine (local run)" if s.is_local else f"{s.offer.provider or '?'} {s.offer.region}".strip()),
        ("hardware", s.hardware),
        ("pricing", f"{'local rate' if s.is_local else s.offer.market} ${s.rate_per_hour:,.4f}/h"
         + (f" ({s.rate_source})" if s.rate_source and LOCAL_RATE_ZERO not in s.notes else "")),  # else the note says it
        ("ran", f"{s.actual_seconds:,.0f} s ({s.time_source})" if s.actual_seconds is not None else s.time_source),
        ("billed", f"{s.billed_hours:.4f} h = {s.billed_seconds} s, {s.billing_rule}"),
        ("billing rule source", f"{s.billing_source or ('none: this machine' if s.is_local else 'none')} "
                                f"(as of {s.billing_as_of or '?'})"),
        ("compute cost", money(s.compute_cost)),
        ("NOT included", "; ".join(s.not_included)),
        ("recoveries", str(s.recoveries)),
        ("estimated", f"{s.estimated_hours:.4f} h, {money(s.estimated_cost)}" if s.estimated_hours is not None
         else "no estimate recorded"),
        ("actual - estimated", f"{_signed(s.hours_diff, s.hours_diff_pct, 'h')}; "
                               f"{_signed(s.cost_diff, s.cost_diff_pct, '$')}"),
        ("train tokens", _tokens(s)),
        ("$ per million tokens", money(s.usd_per_million_tokens) if s.usd_per_million_tokens is not None
         else "n/a (no cost or no tokens)"),
        ("final loss", f"{s.final_loss:.4f}" if s.final_loss is not None else "n/a"),
    ]
    if s.eval_loss is not None or s.eval_loss_before is not None:
        rows.append(("eval loss", _eval(s)))
    if s.is_local:  # no provider's rule, no recovery, and at rate 0 no cost per token: rows that would say nothing;
        # the hardware row says where, and this machine bills the time it ran, per second: "billed" repeated "ran"
        silent = {"where", "billed", "billing rule source", "recoveries"} | \
            ({"$ per million tokens"} if s.rate_per_hour == 0 else set())
        rows = [row for row in rows if row[0] not in silent or row[0] == "recoveries" and s.recoveries]
    if s.peak_memory_gib is not None or s.estimated_peak_gib is not None:
        est = f"{s.estimated_peak_gib:.2f}" if s.estimated_peak_gib is not None else "?"
        got = f"{s.peak_memory_gib:.2f}" if s.peak_memory_gib is not None else "?"
        rows.append(("peak memory", f"{got} GiB measured, {est} GiB estimated per GPU"))
    return rows


def print_summary(summary: CostSummary, console) -> None:
    """Print the summary as a rich table, then its notes; `console` is a rich Console."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"Cost summary: {summary.run_id} ({summary.status}, {summary.backend})" + \
        (f", tag {summary.tag}" if summary.tag else "")
    table = Table(title=Text(title), show_header=False, title_justify="left",  # Text: a tag is not markup
                  box=box.SIMPLE, pad_edge=False, show_edge=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for label, value in summary_rows(summary):
        # Text(), not str: a tag like "[bold]" must print as typed, not as rich markup.
        table.add_row(Text(label), Text(value), style="yellow" if label == "NOT included" else None)
    console.print(table)
    for note in summary.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
