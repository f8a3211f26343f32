"""The managed job's fallback order: which offers SkyPilot tries, in which order, and why each one is there.

WHY spread it: the cheapest offers often sit on one provider in one zone (the 8B QLoRA plan's top three were all
primeintellect FI/FIN-01), and a capacity shortage or outage there fails them all together. So the order keeps
the plan's choice first, then makes sure at least one offer on another provider, else in another region, is in
it, as long as it costs at most the larger of COST_TOLERANCE (25 %) and COST_TOLERANCE_USD ($1) more than the
choice; the rest are the next cheapest. A fallback is paid for only when every offer before it failed, and then
a run that starts beats one that does not: hence the absolute floor, which a cheap run needs (8B QLoRA: $0.39
on primeintellect FI, the next provider $0.72). Offers the pinned SkyPilot cannot launch (pricing_data/providers.csv)
are never in the order.
"""

from __future__ import annotations

from typing import Callable, Optional

from pydantic import BaseModel

from tunecost.planner.errors import UserError
from tunecost.planner.plan import Plan
from tunecost.planner.market.providers import launch_problem
from tunecost.planner.quote import Quote

COST_TOLERANCE = 0.25  # a fallback on another provider/region may cost up to 25 % more than the plan's choice,
COST_TOLERANCE_USD = 1.0  # or up to $1 more, whichever is larger


class Fallback(BaseModel):
    quote: Quote
    reason: str  # why it is in the order, for the task YAML's comment


def _key(quote: Quote) -> str:
    return quote.offer.key


def _launch_problem(quote: Quote) -> str:
    """Read from the provider table at launch time, not from the plan file: a plan saved before a provider was
    found unlaunchable (or by an older tunecost) must not put it in the task."""
    return launch_problem(quote.offer.provider, spot=quote.offer.spot, nodes=quote.offer.nodes)


def _extra(quote: Quote, base: float) -> str:
    return f"+{(quote.cost / base - 1) * 100:.0f}% over the choice" if base > 0 else "cost unknown"


def limit(base: float, tolerance: float = COST_TOLERANCE, usd: float = COST_TOLERANCE_USD) -> float:
    """The most a fallback elsewhere may cost, for a choice costing `base`."""
    return max(base * (1 + tolerance), base + usd)


def fallback_order(plan: Plan, top_k: int, tolerance: float = COST_TOLERANCE,
                   usd: float = COST_TOLERANCE_USD) -> list[Fallback]:
    """The plan's choice, then up to top_k - 1 fallbacks with the same node count (num_nodes is per task)."""
    chosen = plan.chosen
    if chosen is None:
        raise UserError("the plan has no chosen offer (nothing fits, or no offer that fits can be launched by "
                        "SkyPilot); re-run tunecost plan with a smaller model, more --max-gpus or other --providers")
    why = _launch_problem(chosen)
    if why:
        raise UserError(f"the plan's offer {chosen.offer.describe()} cannot be launched: "
                        f"{why}; re-plan with this tunecost (tunecost plan ... --save), which chooses only offers "
                        "SkyPilot can launch")
    pool, seen = [], {_key(chosen)}
    for quote in sorted(plan.quotes, key=lambda q: q.cost):
        if _key(quote) not in seen and quote.offer.nodes == chosen.offer.nodes and not _launch_problem(quote):
            seen.add(_key(quote))
            pool.append(quote)
    base = chosen.cost
    near = [q for q in pool if q.cost <= limit(base, tolerance, usd)]
    picked = [Fallback(quote=chosen, reason="the plan's choice (cheapest that fits)")]

    def first(pred: Callable[[Quote], bool]) -> Optional[Quote]:
        return next((q for q in near if pred(q) and all(_key(q) != _key(p.quote) for p in picked)), None)

    here = chosen.offer
    for label, pred in (("another provider", lambda q: q.offer.provider != here.provider),
                        ("another region", lambda q: (q.offer.provider, q.offer.region) != (here.provider, here.region))):
        if len(picked) >= top_k:
            break
        if any(pred(p.quote) for p in picked):
            continue
        found = first(pred)
        if found is not None:
            picked.append(Fallback(quote=found, reason=f"{label}, should capacity run out there "
                                                       f"({_extra(found, base)})"))
    for quote in pool:
        if len(picked) >= top_k:
            break
        if all(_key(quote) != _key(p.quote) for p in picked):
            place = ", another provider" if quote.offer.provider != here.provider else \
                ", another region" if quote.offer.region != here.region else ""
            picked.append(Fallback(quote=quote, reason=f"next cheapest{place} ({_extra(quote, base)})"))
    if len(picked) > 1 and len({(p.quote.offer.provider, p.quote.offer.region) for p in picked}) == 1:
        for f in picked[1:]:
            f.reason += f"; no other provider or region within {tolerance:.0%} or ${usd:g}"
    head, rest = picked[0], sorted(picked[1:], key=lambda f: f.quote.cost)
    return [head, *rest]  # cheapest first after the choice: SkyPilot tries them in this order
