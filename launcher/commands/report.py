"""`tunecost report` and `tunecost calibrate`: the bill of a run, expense reports, planner error.

WHY these defaults: right after a run, `tunecost report` with nothing else answers "what did that cost?"
(the latest run's summary). With --format, no run ids means every run in the date range, since that is what
an expense report is. Heavy imports (pandas, jinja2) happen inside the commands so `tunecost plan` starts fast.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import List, Optional

import typer

from tunecost.launcher.commands.common_options import date_range, since_option, until_option
from tunecost.planner.errors import UserError

SUFFIX_FORMATS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".csv": "csv", ".json": "json"}


def _format(fmt: Optional[str], out: Optional[Path], as_json: bool = False) -> Optional[str]:
    """--format as given (--json is --format json), else guessed from --out's suffix (report.html -> html)."""
    from tunecost.launcher.views.expense_view import FORMATS

    if as_json:
        if fmt is not None and fmt.strip().lower() != "json":
            raise UserError(f"--json is --format json; drop one of --json and --format {fmt}")
        return "json"
    if fmt is not None:
        fmt = fmt.strip().lower()
        if fmt not in FORMATS:
            raise UserError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
        return fmt
    if out is not None:
        guessed = SUFFIX_FORMATS.get(out.suffix.lower())
        if guessed is None:
            raise UserError(f"--out {out}: cannot tell the format from '{out.suffix}'; add --format md|html|csv|json")
        return guessed
    return None


def _console():
    from tunecost.launcher.views.safe_text import console

    return console()


def report(
    run_ids: Optional[List[str]] = typer.Argument(None, help="Runs to report; default: the latest run "
                                                  "(or, with --format, every run in the range)."),
    since: Optional[datetime] = since_option("First day (or time) of the report, UTC."),
    until: Optional[datetime] = until_option("Last day of the report (inclusive), or a time before which, UTC."),
    tag: Optional[str] = typer.Option(None, "--tag", help="Only runs with this tag."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="Expense report format: md, html, csv, json."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the report here (atomically)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", metavar="SWEEP_ID", help="Only the runs of this sweep "
                                        "(its points' losses and total)."),
) -> None:
    """The cost of a run, or an expense report over runs (line items, totals per provider and tag)."""
    from tunecost.launcher.ledger.reconcile import reconcile
    from tunecost.launcher.ledger.store import Ledger
    from tunecost.launcher.output_file import write_output
    from tunecost.launcher.reports.cost_summary import summarize
    from tunecost.launcher.reports.expense_report import build_report
    from tunecost.launcher.views.console import wide_console
    from tunecost.launcher.views.expense_view import render
    from tunecost.launcher.views.summary_view import print_summary
    from tunecost.launcher.views.sweep_view import print_sweeps

    dates = date_range(since, until)
    first, last = dates.first, dates.last
    fmt = _format(fmt, out, as_json)
    ledger = Ledger()
    reconcile(ledger)
    filtered = any(v is not None for v in (since, until, tag))
    if run_ids and filtered:
        raise UserError("give run ids or --since/--until/--tag, not both")
    if run_ids:
        records = [ledger.get(run_id) for run_id in dict.fromkeys(run_ids)]
    else:
        records = ledger.list(since=dates.since, until=dates.until, tag=tag)
    if sweep is not None:
        records = [r for r in records if r.sweep_id == sweep]
        if not records:
            raise UserError(f"no runs of sweep '{sweep}' in the ledger; see the sweep ids in tunecost runs")

    console = _console()
    if fmt is None and sweep is not None:
        print_sweeps(records, wide_console())
        return
    if fmt is None and (len(run_ids or []) == 1 or (not run_ids and not filtered)):
        if not records:
            raise UserError(f"no runs in the ledger ({ledger.path}) yet; start one with tunecost launch")
        print_summary(summarize(records[-1]), console)
        if records[-1].sweep_id:  # the latest run ended a sweep: show the whole sweep beside its bill
            print_sweeps([r for r in records if r.sweep_id == records[-1].sweep_id], wide_console())
        console.print("expense report over all runs: tunecost report --format html --out report.html",
                      markup=False, highlight=False, style="dim")
        return

    if not records:
        period = f"from {first or 'the first run'} to {last or 'today'}" + (f" with tag '{tag}'" if tag else "")
        raise UserError(f"no runs {period} in the ledger; widen --since/--until or drop --tag")
    expense = build_report(records, since=first, until=last, tag=tag)
    if fmt is None:
        from rich.markdown import Markdown

        console.print(Markdown(render(expense, "md")))
        return
    text = render(expense, fmt)
    if out is None:
        sys.stdout.write(text)
        return
    write_output(out, text, "--out")
    runs = f"{len(expense.items)} run" + ("s" if len(expense.items) != 1 else "")
    console.print(f"wrote {out} ({fmt}): {runs}, total {expense.total:,.2f} {expense.currency}",
                  markup=False, highlight=False)


def calibrate_cmd(
    apply: bool = typer.Option(False, "--apply", help="Store the factors for later plans to use."),
    since: Optional[datetime] = since_option(),
    until: Optional[datetime] = until_option(),
    tag: Optional[str] = typer.Option(None, "--tag", help="Only runs with this tag."),
    as_json: bool = typer.Option(False, "--json", help="Print the table and stored factors as JSON."),
) -> None:
    """How far the planner's hours and memory were from finished runs, per GPU and method."""
    from tunecost.launcher.ledger.reconcile import reconcile
    from tunecost.launcher.ledger.store import Ledger
    from tunecost.launcher.reports.calibrate import apply as store, calibrate, calibration_path, load_factors
    from tunecost.launcher.views.calibrate_view import print_calibration, print_factors

    dates = date_range(since, until)
    ledger = Ledger()
    reconcile(ledger)
    result = calibrate(ledger.list(since=dates.since, until=dates.until, tag=tag))
    if not result.rows and not result.rates:
        first = f" (e.g. {result.skipped[0]})" if result.skipped else ""
        raise UserError(f"nothing to calibrate from: {len(result.skipped)} runs in range, none succeeded with a "
                        f"plan estimate{first}; launch from a plan and let it finish")
    refused: list[str] = []
    if apply:
        path, factors, refused = store(result)
    else:
        path, factors = calibration_path(), load_factors()
    if as_json:
        payload = {"calibration": result.model_dump(mode="json"), "applied": apply, "path": str(path),
                   "factors": [f.model_dump(mode="json") for f in factors], "refused": refused}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    console = _console()
    print_calibration(result, console)
    for why in refused:
        console.print(f"refused {why}", markup=False, highlight=False)
    print_factors(factors, path, console)
    if not apply:
        console.print("store these with tunecost calibrate --apply", markup=False, highlight=False, style="dim")
