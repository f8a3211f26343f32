"""A priced sweep: every grid point planned as its own fine-tune, on one offer that fits them all or each on its own.

WHY per point: rank, targets, seq-len and batch change the memory (so which GPUs fit) and the hours; the learning
rate changes neither, so its points cost the same. A sweep is judged by its total, which can exceed the final
run's cost: `--budget` applies to the total. One offer for every point (the default) keeps the points comparable
and on one provider; `each` takes the cheapest offer per point.
"""

from __future__ import annotations

from typing import Any, Optional

from tunecost.planner.errors import UserError
from tunecost.planner.fallbacks import plan_fallbacks
from tunecost.planner.market.offers import PriceTables
from tunecost.planner.optimizer import optimize
from tunecost.planner.quote import Quote
from tunecost.planner.plan import PLAN_SCHEMA, Plan, Sweep, SweepOffers, SweepPoint
from tunecost.planner.spec import TrainSpec
from tunecost.planner.sweep_grid import job_settings

FALLBACKS = 3  # offers per point in a launch's fallback order
ALL_QUOTES = 1_000_000  # a sweep needs every fitting offer of every point to find the ones they share


def _shared(plans: list[Plan]) -> list[list[Quote]]:
    """Per point, its quotes on the offers every point fits, in the order of their summed cost."""
    by_point = [{q.offer.key: q for q in p.quotes if q.launchable} for p in plans]
    common = set(by_point[0]).intersection(*by_point[1:])
    if not common:
        biggest = max(plans, key=lambda p: p.chosen.peak_gib_per_gpu if p.chosen else 0)
        raise UserError("no single offer fits every point of the sweep (the largest needs "
                        f"{biggest.chosen.peak_gib_per_gpu if biggest.chosen else 0:.1f} GiB per GPU); "
                        "price each point on its own with --sweep-offers each, or narrow the sweep")
    order = sorted(common, key=lambda k: (sum(p[k].cost for p in by_point), sum(p[k].hours for p in by_point)))
    return [[p[k] for k in order[:FALLBACKS]] for p in by_point]


def price_sweep(points: list[tuple[dict[str, Any], TrainSpec]], prices: PriceTables, *, offers: SweepOffers = "one",
                budget: Optional[float] = None, **optimize_args: Any) -> Plan:
    """Plan every point, price the sweep on the chosen offers, and check the total against the budget."""
    if offers not in ("one", "each"):
        raise UserError(f"--sweep-offers must be one or each (got {offers!r})")
    if budget is not None and budget <= 0:
        raise UserError(f"--budget must be a positive number of USD (got {budget:g})")
    plans = [optimize(spec, prices, top_k=ALL_QUOTES, **optimize_args) for _, spec in points]
    if offers == "one":
        chosen = _shared(plans)
    else:
        chosen = [[q for q in p.quotes if q.launchable][:FALLBACKS] for p in plans]  # the chosen is the first
        if not all(chosen):
            raise UserError("a point of the sweep fits no offer SkyPilot can launch; narrow the sweep or widen "
                            "--providers / --max-gpus")
    swept = [SweepPoint(index=i, params=params, spec=spec, quotes=quotes, job=job_settings(params),
                        fallbacks=plan_fallbacks(quotes[0], quotes))
             for i, ((params, spec), quotes) in enumerate(zip(points, chosen))]
    total = sum(p.quote.cost for p in swept)
    if budget is not None and total > budget:
        priciest = max(swept, key=lambda p: p.quote.cost)
        raise UserError(f"the sweep's {len(swept)} points cost ${total:,.2f} in total, over the budget of "
                        f"${budget:,.2f} (the dearest, {priciest.label}, ${priciest.quote.cost:,.2f}); raise --budget "
                        "or sweep fewer points")
    first = plans[0]
    axes: dict[str, list[Any]] = {}
    for params, _ in points:
        for key, value in params.items():
            axes.setdefault(key, [])
            if value not in axes[key]:
                axes[key].append(value)
    sweep = Sweep(offers=offers, axes=axes, points=swept, total_cost=total,
                  total_hours=sum(p.quote.hours for p in swept),
                  offer=swept[0].quote.offer.describe() if offers == "one" else "")
    # the first point's plan, on the sweep's offers, so every reader of a plan sees that point
    return first.model_copy(update={"chosen": swept[0].quote, "quotes": swept[0].quotes,
                                    "fallbacks": swept[0].fallbacks, "sweep": sweep})


def unpriced_sweep(points: list[tuple[dict[str, Any], TrainSpec]]) -> Plan:
    """A sweep plan for this machine from the grid alone: the specs, no offers (a local run is not priced)."""
    swept = [SweepPoint(index=i, params=params, spec=spec, job=job_settings(params))
             for i, (params, spec) in enumerate(points)]
    return Plan(schema_version=PLAN_SCHEMA, spec=swept[0].spec, sweep=Sweep(points=swept))
