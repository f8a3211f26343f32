"""The fallback order: which offers a managed job tries, in which order, and why each one is there; chosen when
planning, so the plan is all the launcher reads.

WHY spread it: the cheapest offers often sit on one provider in one zone (the 8B QLoRA plan's top three were all
primeintellect FI/FIN-01), and a capacity shortage or outage there fails them all together. So the order keeps
the plan's choice first, then makes sure at least one offer on another provider, else in another region, is in
it, as long as it costs at most the larger of COST_TOLERANCE (25 %) and COST_TOLERANCE_USD ($1) more than the
choice; the rest are the next cheapest. A fallback is paid for only when every offer before it failed, and then
a run that starts beats one that does not: hence the absolute floor, which a cheap run needs (8B QLoRA: $0.39
on primeintellect FI, the next provider $0.72). Offers the pinned SkyPilot cannot launch (pricing_data/providers.csv)
are never in the order.

The plan keeps FALLBACKS_KEPT offers in the order they were picked (`plan_fallbacks`); `launch --top N` takes the
first N of them (`fallback_order`), which is what picking N would have given, then lists them cheapest first after
the choice, the order SkyPilot tries them in.
"""

from __future__ import annotations

from typing import Callable, Optional

from pydantic import BaseModel

from tunecost.planner.errors import UserError
from tunecost.planner.market.providers import launch_problem
from tunecost.planner.quote import Quote

COST_TOLERANCE = 0.25  # a fallback on another provider/region may cost up to 25 % more than the plan's choice,
COST_TOLERANCE_USD = 1.0  # or up to $1 more, whichever is larger
FALLBACKS_KEPT = 20  # the most `launch --top` takes


class Fallback(BaseModel):
    quote: Quote
    reason: str  # why it is in the order, for the task YAML's comment


def _key(quote: Quote) -> str:
    return quote.offer.key


def _launch_problem(quote: Quote) -> str:
    return launch_problem(quote.offer.provider, spot=quote.offer.spot, nodes=quote.offer.nodes)


def _extra(quote: Quote, base: float) -> str:
    return f"+{(quote.cost / base - 1) * 100:.0f}% over the choice" if base > 0 else "cost unknown"


def limit(base: float, tolerance: float = COST_TOLERANCE, usd: float = COST_TOLERANCE_USD) -> float:
    """The most a fallback elsewhere may cost, for a choice costing `base`."""
    return max(base * (1 + tolerance), base + usd)


def plan_fallbacks(chosen: Optional[Quote], quotes: list[Quote], keep: int = FALLBACKS_KEPT,
                   tolerance: float = COST_TOLERANCE, usd: float = COST_TOLERANCE_USD) -> list[Fallback]:
    """The choice, then up to keep - 1 fallbacks with the same node count (num_nodes is per task), in the order
    they are picked: another provider, else another region, within the tolerance; then the next cheapest. Any first
    N of them are the N a run with `--top N` gets. Empty when nothing is chosen or the choice cannot be launched."""
    if chosen is None or _launch_problem(chosen):
        return []
    pool, seen = [], {_key(chosen)}
    for quote in sorted(quotes, key=lambda q: q.cost):
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
                        ("another region",
                         lambda q: (q.offer.provider, q.offer.region) != (here.provider, here.region))):
        if len(picked) >= keep:
            break
        if any(pred(p.quote) for p in picked):
            continue
        found = first(pred)
        if found is not None:
            picked.append(Fallback(quote=found, reason=f"{label}, should capacity run out there "
                                                       f"({_extra(found, base)})"))
    for quote in pool:
        if len(picked) >= keep:
            break
        if all(_key(quote) != _key(p.quote) for p in picked):
            place = ", another provider" if quote.offer.provider != here.provider else \
                ", another region" if quote.offer.region != here.region else ""
            picked.append(Fallback(quote=quote, reason=f"next cheapest{place} ({_extra(quote, base)})"))
    return picked


def fallback_order(fallbacks: list[Fallback], chosen: Optional[Quote], top_k: int,
                   tolerance: float = COST_TOLERANCE, usd: float = COST_TOLERANCE_USD) -> list[Fallback]:
    """The first top_k of a plan's fallbacks as the task lists them: the choice, then the rest cheapest first (the
    order SkyPilot tries them in). One line when there is nothing to launch."""
    if not fallbacks:
        if chosen is None:
            raise UserError("the plan has no chosen offer (nothing fits, or no offer that fits can be launched by "
                            "SkyPilot); re-run tunecost plan with a smaller model, more --max-gpus or other "
                            "--providers")
        raise UserError(f"the plan's offer {chosen.offer.describe()} cannot be launched: "
                        f"{_launch_problem(chosen) or 'the plan carries no fallback order'}; re-plan with this "
                        "tunecost (tunecost plan ... --save), which chooses only offers SkyPilot can launch")
    picked = [f.model_copy() for f in fallbacks[:top_k]]
    if len(picked) > 1 and len({(p.quote.offer.provider, p.quote.offer.region) for p in picked}) == 1:
        for f in picked[1:]:
            f.reason += f"; no other provider or region within {tolerance:.0%} or ${usd:g}"
    head, rest = picked[0], sorted(picked[1:], key=lambda f: f.quote.cost)
    return [head, *rest]
