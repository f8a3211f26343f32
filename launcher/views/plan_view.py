"""Rich rendering of a Plan and of an Estimate: the chosen offer first, then what else, why not, and on what basis.

Only the text view lives here; `--json` output never imports rich's table machinery.
"""

from __future__ import annotations

from typing import Optional

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tunecost.planner.estimate import Estimate
from tunecost.planner.model.fit import LEARNED_COMPONENT
from tunecost.planner.model.memory import MemoryEstimate
from tunecost.planner.money import money
from tunecost.planner.plan import Plan
from tunecost.planner.quote import BILLING, Quote

HOURS_ORDER = ("compute", "step_overhead", "communication", "provisioning", "setup", "model_download", "checkpoints",
               "rework", LEARNED_COMPONENT, BILLING)


def hours_text(h: float) -> str:
    if h < 0:
        return f"-{hours_text(-h)}"  # a learned correction can take time off
    if h < 1 / 60:
        return "<1 min"
    return f"{h * 60:.0f} min" if h < 1 else f"{h:,.1f} h"


def hours_parts(breakdown: dict[str, float]) -> str:
    """'compute 3.2 h, provisioning 6 min, ...'; the learned correction shown even when it takes time off."""
    return ", ".join(f"{k.replace('_', ' ')} {hours_text(breakdown[k])}" for k in HOURS_ORDER
                     if breakdown.get(k, 0.0) > 0 or (k in (LEARNED_COMPONENT, BILLING) and breakdown.get(k)))


def interruption_line(q: Quote) -> str:
    """What interrupts the run, how often, on what basis, and the checkpoints chosen for it."""
    what = "spot preemptions" if q.offer.spot else "hardware failures"
    span = ("" if q.preemption_rate_low == q.preemption_rate_high else
            f" ({q.preemption_rate_low:.3g}-{q.preemption_rate_high:.3g})")
    rate = f"{what}: {q.preemption_rate_per_hour:.3g}/h expected{span} [{q.preemption_label}]"
    if q.checkpoint_interval_hours is None or q.hours_breakdown.get("checkpoints", 0.0) <= 0:
        ckpt = f"no checkpoint before the end (one would write {q.checkpoint_gb:,.1f} GB)"
    else:
        ckpt = (f"a {q.checkpoint_gb:,.1f} GB checkpoint every {hours_text(q.checkpoint_interval_hours)} "
                f"({hours_text(q.checkpoint_write_hours)} to write)")
    worst = ""
    if q.offer.spot and q.pessimistic_hours is not None:
        worst = f"; at the high rate {hours_text(q.pessimistic_hours)}, {money(q.pessimistic_cost or 0.0)}"
    return f"{rate}; {ckpt}{worst}"


NARROW = 110  # columns below which the offer tables stack pairs of cells; a plan needs about 118 side by side
NUMBERS = ("$/h", "hours", "total", "high-rate", "total / high-rate", "GiB need/has", "$/M tokens", "billed tokens",
           "min")


def _stack(top: str, below: str) -> str:
    return f"{top}\n{below}" if below else top


def _two_lines(text: str) -> list[str]:
    """`text` broken at the space nearest its middle (the width that shows it on two lines)."""
    spaces = [i for i, c in enumerate(text) if c == " "]
    if not spaces:
        return [text]
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return [text[:cut], text[cut + 1:]]


def _add_columns(table: Table, rows: list[dict[str, str]], left_text: tuple[str, ...]) -> None:
    """Numbers are right-aligned and never narrower than their widest cell (a narrow terminal folds or wraps the
    text columns and the headers, never a figure); `left_text` columns may fold, the others keep their width."""
    for name in rows[0]:
        number = name in NUMBERS
        widest = max((len(line) for r in rows for line in r[name].splitlines()), default=0)
        table.add_column(name, justify="right" if number else "left", no_wrap=not number and name not in left_text,
                         overflow="fold", min_width=widest if number or name not in left_text else None)


def _quotes_table(quotes: list[Quote], chosen: Quote | None, title: str, width: int) -> Table:
    """The ranked offers. Below NARROW columns the region goes under the provider and the type under the GPU,
    and an as-of date all offers share moves into the title."""
    narrow = width < NARROW
    dates = {q.offer.as_of or "undated" for q in quotes}
    shared = narrow and len(dates) == 1
    rows = []
    for q in quotes:
        o = q.offer
        gpu = o.hardware + (f" {q.parallelism}" if o.gpus > 1 else "")
        kind = o.market
        high = money(q.pessimistic_cost) if o.spot and q.pessimistic_cost is not None else ""
        mark = ("→" if q == chosen else "✗" if not q.launchable else "") + ("?" if q.speed_assumed else "")
        row = {"": mark,
               **({"provider": _stack(o.provider, o.region), "instance": o.instance_type, "GPU": _stack(gpu, kind)}
                  if narrow else {"provider": o.provider, "region": o.region, "instance": o.instance_type, "GPU": gpu,
                                  "type": kind}),
               "$/h": money(o.total_per_hour), "hours": hours_text(q.hours),
               **({"total / high-rate": _stack(money(q.cost), high)} if narrow else
                  {"total": money(q.cost), "high-rate": high}),
               "GiB need/has": _need_has(q, narrow)}
        if not shared:
            row["as of"] = o.as_of or "undated"
        row["P"] = "*" if q.pareto else ""
        rows.append(row)
    table = Table(title=title + (f"; prices {dates.pop()}" if shared else ""), title_justify="left",
                  header_style="bold", pad_edge=False, box=box.SIMPLE_HEAD, collapse_padding=True, show_edge=not narrow)
    if rows:
        _add_columns(table, rows, ("provider", "region", "instance", "GPU", "as of"))
    for row, q in zip(rows, quotes):  # Text, not markup: offers may come from the user's --prices CSV
        table.add_row(*map(Text, row.values()), style="bold green" if q == chosen else "dim" if not q.launchable
                      else None)
    notes = [text for flag, text in ((any(not q.launchable for q in quotes), "✗ SkyPilot cannot launch it: priced "
                                      "for comparison, never chosen"),
                                     (any(q.speed_assumed for q in quotes), "? GPU speed assumed (no sourced TFLOPS)"))
             if flag]
    if notes:
        table.caption, table.caption_justify = "; ".join(notes), "left"
    return table


SERVING_SHOWN = 60  # characters of a service's serving terms in the concise view; --verbose prints them whole
SERVING_SHOWN_NARROW = 20  # the same below NARROW columns, where the column is a few characters wide


def _cut(text: str, most: int | None) -> str:
    return text if most is None or len(text) <= most else text[:most - 1].rstrip() + "…"


def _managed_table(plan: Plan, verbose: bool, width: int) -> Table:
    """Hosted services beside the GPU offers: what each bills for this fine-tune, and on what basis.

    The as-of date is never cut; the serving terms are cut to SERVING_SHOWN characters unless --verbose. Below
    NARROW columns the method goes under the service and the source under the date."""
    narrow = width < NARROW
    table = Table(title="Managed fine-tuning (the service runs it; tunecost cannot launch these)",
                  title_justify="left", header_style="bold", pad_edge=False, box=box.SIMPLE_HEAD,
                  collapse_padding=True, show_edge=not narrow)
    minimum = any(q.minimum_usd for q in plan.managed)  # no shipped service states one: no empty column
    rows = []
    for q in plan.managed:
        status = "" if q.status == "active" else q.status
        as_of = q.as_of or "undated"
        rows.append({**({"service": _stack(q.provider, q.method), "model": q.model_bracket} if narrow else
                        {"service": q.provider, "model": q.model_bracket, "method": q.method}),
                     "$/M tokens": money(q.usd_per_million_tokens), "billed tokens": f"{q.billed_tokens:,}",
                     "total": money(q.cost), **({"min": money(q.minimum_usd) if q.minimum_usd else ""} if minimum else {}),
                     **({"as of": _stack(as_of, q.source_kind)} if narrow else {"as of": as_of, "source": q.source_kind}),
                     "serving / status": _cut("; ".join(filter(None, (status, q.serving_note))) or "not stated",
                                              None if verbose else SERVING_SHOWN_NARROW if narrow else SERVING_SHOWN)})
    _add_columns(table, rows, ("model", "as of", "serving / status"))
    if narrow:  # the model bracket on two lines ("open models" over "<=16B"), not three
        model = next(column for column in table.columns if column.header == "model")
        model.min_width = max(len(line) for r in rows for line in _two_lines(r["model"]))
    for row, q in zip(rows, plan.managed):
        table.add_row(*map(Text, row.values()), style=None if q.open_weights else "dim")  # CSV text is not markup
    return table


MISFITS_SHOWN = 5  # the concise view: the nearest misses; --verbose and --json list them all


def render_plan(plan: Plan, console: Console, top: int = 15, verbose: bool = False, brief: bool = False) -> None:
    """Chosen, alternatives (top N by cost), managed services, misfits, memory; every assumption with --verbose;
    with --brief only the decision (chosen offer, the managed verdict, or why nothing fits) and what was left out.

    WHY concise by default: a plan is read for its decision; the ~40 assumption lines behind it are for checking
    it, so they live in --verbose, the JSON and the HTML page, and the default says how many there are."""
    chosen = plan.chosen
    spec = plan.spec
    what = spec.model or f"{spec.params_b:g}B params"
    console.print(f"[bold]{escape(what)}[/], {spec.method.value}, {spec.train_tokens:,} training tokens "
                  f"(seq {spec.seq_len}, batch {spec.micro_batch} x accum {spec.grad_accum})")
    if chosen is not None:
        console.print(
            f"[bold green]Chosen: {money(chosen.cost)}[/] on {escape(chosen.offer.describe())} in about "
            f"{hours_text(chosen.hours)} at {chosen.tokens_per_sec:,.0f} tokens/s; peak "
            f"{_with_band(chosen.peak_gib_per_gpu, chosen.peak_band_gib)} GiB per GPU")
    if brief:
        _render_brief(plan, console)
        return
    if chosen is not None:
        console.print(f"hours: {hours_parts(chosen.hours_breakdown)}")
        console.print(interruption_line(chosen), highlight=False, markup=False)
        if plan.multi_node:
            console.print(plan.multi_node, highlight=False, markup=False)
        if chosen.interconnect:
            exposed = chosen.hours_breakdown.get("communication", 0.0)
            console.print(f"communication: {hours_text(chosen.communication_hours)} over {chosen.interconnect}; "
                          + (f"{hours_text(exposed)} of it adds to the hours (the rest overlaps compute)" if exposed > 0
                             else "it overlaps compute, so none of it adds to the hours"), highlight=False, markup=False)
    others = [q for q in plan.quotes if q != chosen][:max(top - (chosen is not None), 0)]
    shown = ([chosen] if chosen else []) + others
    narrow = console.width < NARROW  # the tables drop their blank edges; one blank line parts them
    if narrow:
        console.print()
    console.print(_quotes_table(shown, chosen, f"Offers ranked by total cost ({len(shown)} of {len(plan.quotes)}; "
                                               "P * = Pareto-optimal in cost and hours)", console.width))
    if plan.managed:
        if narrow:
            console.print()
        console.print(_managed_table(plan, verbose, console.width))
    if plan.managed_verdict:
        console.print(f"[bold]{escape(plan.managed_verdict)}[/]")
    _render_misfits(plan, console, top if verbose else min(top, MISFITS_SHOWN))
    if verbose:
        render_memory(plan.memory, console)
        render_assumptions(plan.assumptions, console, f"prices as of: {plan.prices_as_of or 'undated'}")
        return
    _memory_line(plan.memory, console)
    console.print(f"{len(plan.assumptions) + 1} assumptions behind these numbers: --verbose lists them "
                  "(and --json, --html)", highlight=False)


def _render_brief(plan: Plan, console: Console) -> None:
    """The rest of --brief: the managed verdict, why nothing fits when nothing does, and one line on the rest."""
    if plan.managed_verdict:
        console.print(f"[bold]{escape(plan.managed_verdict)}[/]")
    if plan.chosen is None:
        _render_misfits(plan, console, MISFITS_SHOWN)
    left = [f"{len(plan.quotes)} offers", f"{len(plan.managed)} managed services" if plan.managed else "",
            f"{len(plan.infeasible)} GPU setups that do not fit" if plan.infeasible and plan.chosen else "",
            f"{len(plan.assumptions) + 1} assumptions"]
    console.print(f"{', '.join(filter(None, left))}: drop --brief to see them",
                  highlight=False)


def _render_misfits(plan: Plan, console: Console, shown: int) -> None:
    if not plan.infeasible:
        return
    table = Table(title="Does not fit (or tight: fits only at the expected peak)", title_justify="left",
                  header_style="bold", pad_edge=False,
                  box=box.SIMPLE_HEAD, collapse_padding=True)
    table.add_column("GPU", no_wrap=True)
    table.add_column("why")
    table.add_column("what would make it fit")
    for item in plan.infeasible[:shown]:
        table.add_row(*map(Text, (f"{item.gpu} x{item.gpu_count}" + (" tight" if item.tight else ""), item.reason,
                                  item.hint)))
    console.print(table)
    if len(plan.infeasible) > shown:
        console.print(f"... and {len(plan.infeasible) - shown} more (see --verbose or --json)")


def _need_has(q: Quote, narrow: bool) -> str:
    """'8.1 (7.2-10.6)/24'; below NARROW columns the band goes on a second line: '8.1/24' over '(7.2-10.6)'."""
    if not narrow or not q.peak_band_gib[1]:
        return f"{_with_band(q.peak_gib_per_gpu, q.peak_band_gib)}/{q.offer.gpu_memory_gib:.0f}"
    low, high = q.peak_band_gib
    return f"{q.peak_gib_per_gpu:.1f}/{q.offer.gpu_memory_gib:.0f}\n({low:.1f}-{high:.1f})"


def _with_band(peak: float, band: tuple[float, float]) -> str:
    """'8.1 (7.6-9.0)', or '8.1' for a plan saved before bands."""
    return f"{peak:.1f} ({band[0]:.1f}-{band[1]:.1f})" if band[1] else f"{peak:.1f}"


def _band(memory: MemoryEstimate) -> str:
    """'(band 7.6-9.0 GiB) ': where published runs like it measured (planner/model/bands.py)."""
    low, high = memory.band_gib
    return f"(band {low:.2f}-{high:.2f} GiB) " if high else ""


def _memory_line(memory: Optional[MemoryEstimate], console: Console) -> None:
    """'Memory per GPU: 12.36 GiB peak = weights 3.79 + ... ': the breakdown in one line."""
    if memory is not None and memory.components_gib:
        components = memory.components_gib
        parts = " + ".join(f"{name.replace('_', ' ')} {gib:.2f}" for name, gib in components.items()
                          if gib >= 0.005)
        console.print(f"[bold]Memory per GPU: {memory.peak_gib:.2f} GiB peak[/] {_band(memory)}= {parts}")


def render_memory(memory: Optional[MemoryEstimate], console: Console) -> None:
    if memory is None or not memory.components_gib:
        return
    console.print(f"[bold]Memory per GPU: {memory.peak_gib:.2f} GiB peak[/] {_band(memory)}")
    table = Table(header_style="bold", pad_edge=False, box=box.SIMPLE_HEAD,
                  collapse_padding=True)
    table.add_column("component")
    table.add_column("GiB", justify="right")
    for name, gib in memory.components_gib.items():
        table.add_row(Text(name.replace("_", " ")), f"{gib:.2f}")
    console.print(table)


def render_assumptions(assumptions: list[str], console: Console, first: str = "") -> None:
    console.print("[bold]Assumptions[/]")
    lines = "\n".join(f"  - {line}" for line in ([first] if first else []) + assumptions)
    console.print(lines, highlight=False, markup=False)


def render_estimate(est: Estimate, console: Console) -> None:
    """Fit verdict, speed and hours for the dataset, memory breakdown, assumptions; memory alone without a GPU."""
    if est.gpu is None:
        console.print(f"[bold]{escape(est.model)}[/] ({est.framework}), {est.gpu_count} GPU(s), {est.parallelism}: "
                      "memory only (name a GPU with --gpu for fit, speed and time)")
        render_memory(est.memory, console)
        render_assumptions(est.assumptions, console)
        return
    if est.fits:
        verdict = "[bold green]fits[/]"
    elif est.tight:
        verdict = f"[bold yellow]tight[/]: {escape(f'{est.fit_reason}; {est.hint}')}"
    else:
        verdict = f"[bold red]does not fit[/]: {escape(f'{est.fit_reason}; {est.hint}')}"
    console.print(f"[bold]{escape(est.model)}[/] on {escape(est.gpu)} x{est.gpu_count} ({est.parallelism}): {verdict}")
    console.print(f"speed: {est.tokens_per_sec:,.0f} tokens/s in total "
                  f"({est.speed.tokens_per_sec_per_gpu:,.0f} per GPU, "
                  f"{est.speed.efficiency:.0%} of {est.speed.peak_tflops:g} TFLOPS peak)")
    console.print(f"time for {est.train_tokens:,} tokens: about {hours_text(est.hours or 0.0)} "
                  f"({hours_parts(est.hours_breakdown)})")
    render_memory(est.memory, console)
    render_assumptions(est.assumptions, console)
