"""`tunecost runs` as tables: the ledger (one row per run, stacked below 120 columns) and each sweep's totals.

WHY ids, figures and dates never wrap: a run id is copied into the next command, and a cut figure reads as
another; only the hardware and the tag fold.
"""

from __future__ import annotations

from typing import Optional

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.reports.sweep_report import sweep_totals
from tunecost.planner.money import money


def _restarts(recoveries: int, resumes: list[int]) -> str:
    """Cloud recoveries, and the steps a run was resumed at (local --resume)."""
    return f"{recoveries}" + (f", resumed at {','.join(str(s) for s in resumes)}" if resumes else "")


def _hours_cost(hours: Optional[float], cost: Optional[float]) -> str:
    """'2.000 h $2.38', or what is known of it ('' when neither is)."""
    parts = ("" if hours is None else f"{hours:.3f} h", money(cost, missing=""))
    return " ".join(part for part in parts if part)


RUNS_NARROW = 120  # columns below which the runs table stacks the date under the id, the tag under the status and
# the actual under the estimate


def runs_table(records: list[RunRecord], width: int) -> Table:
    """The ledger as a table; ids, figures and dates are never cut (ids are copied), the hardware folds."""
    narrow = width < RUNS_NARROW
    style = {"succeeded": "green", "failed": "red", "stopped": "yellow", "running": "cyan"}
    rows = []
    for r in records:
        o = r.offer
        where = "/".join(p for p in (o.provider, o.region) if p) if o else ""
        hardware = f"{o.gpu or '?'} x{o.gpu_count}{' spot' if o.spot else ''}" if o else "?"
        cells = {"run": r.id, "status": r.status, "hardware": f"{hardware} {where}".strip(), "$/h": f"{r.rate:g}",
                 "estimated": _hours_cost(r.estimated_hours, r.estimated_cost),
                 "actual": _hours_cost(r.actual_hours, r.actual_cost),
                 "recoveries": _restarts(r.recoveries, r.resumes), "tag": r.tag,
                 "created (UTC)": f"{r.created_at:%Y-%m-%d %H:%M}"}
        if narrow:
            cells = {"run / created (UTC)": f"{cells['run']}\n{cells['created (UTC)']}",
                     "status / tag": f"{cells['status']}\n{cells['tag']}".rstrip(), "hardware": cells["hardware"],
                     "$/h": cells["$/h"], "estimated / actual": f"{cells['estimated']}\n{cells['actual']}",
                     "restarts": cells["recoveries"]}
        rows.append((r, cells))
    table = Table(title="tunecost runs", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    folds = ("hardware", "tag", "status / tag", "restarts")  # wrap at spaces, never cut
    for name in rows[0][1]:
        widest = max(len(line) for _, cells in rows for line in cells[name].splitlines() or [""])
        table.add_column(name, justify="right" if name in ("$/h", "estimated", "actual", "estimated / actual")
                         else "left", no_wrap=name not in folds, overflow="fold",
                         min_width=max(len(r.status) for r, _ in rows) if name == "status / tag" else
                         len(name) if name == "restarts" else None if name in folds else widest)
    for r, cells in rows:  # Text, not markup: a tag such as "[/]" or "[link=...]" prints as typed
        texts = [Text(c) for c in cells.values()]
        texts[1].stylize(style.get(r.status, "white"), 0, len(r.status))
        table.add_row(*texts)
    return table



def sweeps_table(records: list[RunRecord]) -> Table:
    """One row per sweep among the runs: its points, how many succeeded, its cost and its lowest loss."""
    sweeps = Table(title="Sweeps", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("sweep", "points", "succeeded", "estimated", "actual", "lowest loss"):
        sweeps.add_column(name, justify="left" if name in ("sweep", "lowest loss") else "right", no_wrap=True)
    for s in sweep_totals(records):
        best = next((row for row in s.rows if row.best), None)
        sweeps.add_row(s.sweep_id, str(s.points), str(s.succeeded), money(s.estimated_cost, missing=""),
                       money(s.actual_cost, missing=""), escape(f"{best.point}: {best.settings}") if best else "")
    return sweeps


def print_runs(records: list[RunRecord], console: Console) -> None:
    """The runs table, then the sweeps among them; a line saying how to start when there is none."""
    if not records:
        console.print("no runs yet; start one with `tunecost launch`")
        return
    console.print(runs_table(records, console.width))
    if any(r.sweep_id for r in records):
        console.print(sweeps_table(records))
