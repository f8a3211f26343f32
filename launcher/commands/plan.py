"""`tunecost plan` (price every offer that fits, choose the cheapest) and `tunecost estimate` (one topology).

Both take the shared workload flags, and both apply the correction factors `tunecost calibrate --apply` learned
($TUNECOST_HOME/calibration.json), saying so in the assumptions. The planner (pandas, price tables) is imported inside the commands, so
`tunecost --help` and the other commands do not pay for it; nothing here imports torch or sky.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer

from tunecost.launcher.commands.common_options import providers_option, top_option
from tunecost.launcher.output_file import check_target, write_output
from tunecost.launcher.views.console import wide_console
from tunecost.launcher.commands.sweep_options import SWEEP, SWEEP_FILE, SweepFlags, sweep_points
from tunecost.launcher.commands.workload_options import Workload, workload_options
from tunecost.job.numbers import MAX_GPUS
from tunecost.planner.errors import UserError
from tunecost.planner.spec import Parallelism

OFFERS = "Offers"
MODEL = "Cost model"


def _spot_choice(spot: bool, on_demand: bool, any_: bool) -> str:
    chosen = [name for name, on in (("spot", spot), ("on-demand", on_demand), ("any", any_)) if on]
    if len(chosen) > 1:
        raise UserError(f"give one of --spot, --on-demand, --any (got {', '.join('--' + c for c in chosen)})")
    return chosen[0] if chosen else "any"


def with_config(result, read, command: str, flagged: Callable[[str], bool]) -> None:
    """Add what --config said to a plan's or estimate's assumptions, and what it could not use to its warnings
    (less the open fields a typed flag settled)."""
    if read is None:
        return
    result.assumptions[:0] = read.notes
    lines = [f"config: {w}" for w in read.warnings_besides(flagged)]
    if command == "plan" and read.gpu_count:
        lines.append(f"config: {read.gpu_count} GPUs ({read.parallelism.value if read.parallelism else 'single'}) "
                     "in the file; plan searches GPU counts itself (up to --max-gpus)")
    result.warnings[:0] = lines


def _warn(warnings: list[str]) -> None:
    from tunecost.launcher.views.safe_text import clean

    for line in warnings:
        sys.stderr.write(f"warning: {clean(line)}\n")


@workload_options
def plan(
    workload: Workload,
    providers: Optional[List[str]] = providers_option("Only these providers (aws,gcp,...) and managed services",
                                                      rich_help_panel=OFFERS),
    gpu: Optional[List[str]] = typer.Option(None, "--gpu", help="Only these GPUs (A100-80GB,H100,...)",
                                            rich_help_panel=OFFERS),
    spot: bool = typer.Option(False, "--spot", help="Spot only", rich_help_panel=OFFERS),
    on_demand: bool = typer.Option(False, "--on-demand", help="On-demand only", rich_help_panel=OFFERS),
    any_: bool = typer.Option(False, "--any", help="Spot and on-demand [default]", rich_help_panel=OFFERS),
    max_gpus: int = typer.Option(8, "--max-gpus", min=1, max=MAX_GPUS, help="Most GPUs per instance (node)", rich_help_panel=OFFERS),
    max_nodes: int = typer.Option(8, "--max-nodes", min=1, max=MAX_GPUS, help="Most instances of 8+ GPUs in one run (multi-node)",
                                  rich_help_panel=OFFERS),
    region: Optional[List[str]] = typer.Option(None, "--region", help="Only these regions",
                                               rich_help_panel=OFFERS),
    budget: Optional[float] = typer.Option(None, "--budget", help="Most USD to spend", rich_help_panel=OFFERS),
    deadline: Optional[float] = typer.Option(None, "--deadline", help="Most hours until done",
                                             rich_help_panel=OFFERS),
    prices: Optional[Path] = typer.Option(None, "--prices", help="Your own price CSV (overrides shipped rows)",
                                          rich_help_panel=OFFERS),
    managed_prices: Optional[Path] = typer.Option(None, "--managed-prices", help="Your own managed fine-tuning "
                                                  "price CSV (overrides shipped rows)", rich_help_panel=OFFERS),
    include_closed: bool = typer.Option(False, "--include-closed", help="Also quote closed-model services "
                                        "(OpenAI, Gemini): another model, not the one planned",
                                        rich_help_panel=OFFERS),
    preemption_rate: Optional[float] = typer.Option(None, "--preemption-rate", help="Spot preemptions per "
                                                    "instance-hour, every provider [default: per provider and "
                                                    "instance size, pricing_data/preemption.csv]",
                                                    rich_help_panel=MODEL),
    checkpoint_minutes: Optional[float] = typer.Option(None, "--checkpoint-minutes", help="Minutes between "
                                                       "checkpoints [default: per offer, Young/Daly]",
                                                       rich_help_panel=MODEL),
    headroom: float = typer.Option(0.9, "--headroom", help="Usable share of GPU memory", rich_help_panel=MODEL),
    top: int = top_option(15, "Offers to show"),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print the memory table and every "
                                 "assumption"),
    brief: bool = typer.Option(False, "--brief", help="Print only the decision: the chosen offer and the managed "
                               "verdict (a sweep prints its points either way)"),
    save: Optional[Path] = typer.Option(None, "--save", help="Write the plan JSON here (for `tunecost launch`)"),
    html: Optional[Path] = typer.Option(None, "--html", help="Write the plan as one printable HTML page here"),
    sweep: SweepFlags = SWEEP,
    sweep_file: Optional[Path] = SWEEP_FILE,
    sweep_offers: str = typer.Option("one", "--sweep-offers", help="one: one offer that fits every point; "
                                     "each: the cheapest per point", rich_help_panel="Sweep"),
) -> None:
    """What will this fine-tune cost, where, and how long? Prices every offer that fits and picks the cheapest."""
    from tunecost.planner.corrections import load_corrections
    from tunecost.planner.market.managed_prices import load_managed_prices
    from tunecost.planner.market.offers import load_prices
    from tunecost.planner.optimizer import optimize

    if (preemption_rate is not None and preemption_rate < 0) or (checkpoint_minutes is not None
                                                                 and checkpoint_minutes <= 0):
        raise UserError("--preemption-rate must be >= 0 and --checkpoint-minutes > 0")
    if brief and verbose:
        raise UserError("--brief and --verbose: pick one (--brief prints only the decision, --verbose everything)")
    spec = workload.to_spec()
    points = sweep_points(workload, sweep, sweep_file)
    args = dict(providers=providers, gpus=gpu, spot=_spot_choice(spot, on_demand, any_), max_gpus=max_gpus,
                max_nodes=max_nodes, regions=region, deadline_hours=deadline, headroom=headroom,
                preemption_rate_per_hour=preemption_rate,
                checkpoint_interval_hours=None if checkpoint_minutes is None else checkpoint_minutes / 60,
                corrections=load_corrections(),
                managed_prices=load_managed_prices(managed_prices), include_closed=include_closed)
    if points:
        from tunecost.planner.sweep import price_sweep

        result = price_sweep(points, load_prices(user_csv=prices), offers=sweep_offers, budget=budget, **args)
    else:
        result = optimize(spec, load_prices(user_csv=prices), budget=budget, **args)
        with_config(result, workload.config_read(), "plan", workload.flagged)
    text = result.model_dump_json(indent=2)
    for path, flag in ((save, "--save"), (html, "--html")):
        if path is not None:
            check_target(path, flag)
    page = None
    if html is not None:
        from tunecost.launcher.views.plan_html import render_plan_html

        page = render_plan_html(result)
    if save is not None:
        write_output(save, text + "\n", "--save")
    if page is not None:
        write_output(html, page, "--html")
    _warn(result.warnings)
    if as_json:
        sys.stdout.write(text + "\n")
        return
    from tunecost.launcher.views.plan_view import render_plan

    console = wide_console()
    if points:
        from tunecost.launcher.views.sweep_view import render_sweep

        render_sweep(result, console)
    else:
        render_plan(result, console, top=top, verbose=verbose, brief=brief)
    if save is not None:
        what = "every point" if points else "it"
        console.print(f"saved {save} (run {what} with `tunecost launch {save} --dataset FILE`)", markup=False,
                      highlight=False)
    if html is not None:
        console.print(f"wrote {html} (open it in a browser; it prints on A4: the plan on page 1, its details from "
                      "page 2, no heading left at a page's foot)", markup=False, highlight=False)


@workload_options
def estimate(
    workload: Workload,
    gpu: Optional[str] = typer.Option(None, "--gpu", help="GPU model, e.g. A100-80GB, H100, L4, RTX4090 [default: "
                                      "none: memory only]"),
    gpus: int = typer.Option(1, "--gpus", min=1, max=MAX_GPUS, help="Number of GPUs"),
    parallelism: Optional[Parallelism] = typer.Option(None, "--parallelism",
                                                      help="single, ddp or fsdp [default: ddp if it fits, "
                                                           "else fsdp]"),
    headroom: float = typer.Option(0.9, "--headroom", help="Usable share of GPU memory"),
    as_json: bool = typer.Option(False, "--json", help="Print the estimate as JSON"),
) -> None:
    """Peak memory per GPU, and with --gpu the fit, tokens/s and hours on that GPU type and count; no prices."""
    from tunecost.planner.corrections import load_corrections
    from tunecost.planner.estimate import estimate as run_estimate

    read = workload.config_read()
    if read is not None and read.gpu_count and gpus == 1:  # --gpus left at 1: the file's GPU count
        gpus = read.gpu_count
    if read is not None and read.parallelism and parallelism is None and gpus > 1:
        parallelism = read.parallelism
    result = run_estimate(workload.to_spec(), gpu, gpu_count=gpus, parallelism=parallelism, headroom=headroom,
                          corrections=load_corrections())
    with_config(result, read, "estimate", workload.flagged)
    _warn(result.warnings)
    if as_json:
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
        return
    from tunecost.launcher.views.plan_view import render_estimate

    render_estimate(result, wide_console())
