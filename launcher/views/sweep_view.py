"""Rich rendering of a sweep: priced (one row per point, the shared offer or each point's, and the total), and
launched (each point's run with its status, losses and cost, the lowest loss marked, and the sweep's total)."""

from __future__ import annotations

from typing import Optional

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.reports.sweep_report import sweep_totals
from tunecost.launcher.views.plan_view import hours_text
from tunecost.planner.money import money
from tunecost.planner.plan import Plan


def render_sweep(plan: Plan, console: Console) -> None:
    """The grid priced point by point; the sum is what --budget was checked against."""
    sweep, spec = plan.sweep, plan.spec
    what = spec.model or f"{spec.params_b:g}B params"
    axes = ", ".join(f"{k} {'/'.join(f'{v:g}' if isinstance(v, float) else str(v) for v in vs)}"
                     for k, vs in sweep.axes.items())
    console.print(f"[bold]{escape(what)}[/], {spec.method.value}: a sweep of {len(sweep.points)} points ({escape(axes)})")
    where = f"on one offer that fits every point: {escape(sweep.offer)}" if sweep.offers == "one" else \
        "each point on its cheapest offer"
    console.print(f"[bold green]Sweep total: {money(sweep.total_cost)}[/] and about {hours_text(sweep.total_hours)} "
                  f"one point after another, {where}")
    table = Table(title="Points", title_justify="left", header_style="bold", pad_edge=False, box=box.SIMPLE_HEAD,
                  collapse_padding=True)
    columns = ["#", "point", "training tokens", "GiB need/has", "hours", "cost"]
    if sweep.offers == "each":
        columns.append("offer")
    for name in columns:
        table.add_column(name, justify="right" if name in ("#", "training tokens", "GiB need/has", "hours", "cost")
                         else "left", no_wrap=name != "offer")
    for p in sweep.points:
        q = p.quote
        cells = [str(p.index), p.label, f"{p.spec.train_tokens:,}", f"{q.peak_gib_per_gpu:.1f}/{q.offer.gpu_memory_gib:.0f}",
                 hours_text(q.hours), money(q.cost)]
        if sweep.offers == "each":
            cells.append(q.offer.describe())
        table.add_row(*map(escape, cells))
    console.print(table)
    console.print("each point's spec and offers: --json or --save",
                  highlight=False)


def _num(value: Optional[float], fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def print_sweeps(records: list[RunRecord], console: Console) -> None:
    """Each sweep's points with their losses and cost, then its total."""
    for total in sweep_totals(records):
        table = Table(title=f"Sweep {total.sweep_id}: {total.points} points, {total.succeeded} succeeded",
                      title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                      collapse_padding=True)
        for name in ("#", "point", "run", "status", "final loss", "eval loss", "estimated $", "actual $", ""):
            table.add_column(name, justify="left" if name in ("point", "run", "status", "") else "right",
                             no_wrap=name != "point")
        for row in total.rows:
            table.add_row(str(row.point), escape(row.settings), row.run_id, row.status, _num(row.final_loss, ".4f"),
                          _num(row.eval_loss, ".4f"), _num(row.estimated_cost, ",.4f"), _num(row.actual_cost, ",.4f"),
                          "lowest loss" if row.best else "")
        console.print(table)
        estimate = f"; estimated ${total.estimated_cost:,.4f}" if total.estimated_cost is not None else ""
        console.print(f"sweep total: ${total.actual_cost:,.4f} over {total.actual_hours:.3f} h{estimate}",
                      highlight=False)
