"""Rich rendering of a priced sweep: one row per point, the shared offer (or each point's), and the total."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
