"""optimize(): every offer that fits, priced in hours and dollars; the cheapest within budget and deadline chosen.

The flow is one way: spec -> model shape -> memory per (GPU count, parallelism) -> speed per GPU type -> hours
and cost per offer -> ranked quotes with the Pareto set of (cost, hours) marked, and the reasons the other GPUs
do not fit. Nothing here does I/O beyond the price tables it is given.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from tunecost.planner.candidates import select_offers, split_names
from tunecost.planner.corrections import Corrections
from tunecost.planner.errors import UserError
from tunecost.planner.fallbacks import plan_fallbacks
from tunecost.planner.model.fit import LEARNED_COMPONENT, Fitter
from tunecost.planner.market.gpus import load_gpus
from tunecost.planner.market.interconnect import Interconnect
from tunecost.planner.managed import quote_managed, verdict
from tunecost.planner.market.managed_prices import ManagedPrice
from tunecost.planner.market.offer import Offer
from tunecost.planner.model.memory import MemoryEstimate
from tunecost.planner.market.offers import PriceTables
from tunecost.planner.pareto import pareto_mask
from tunecost.planner.plan import PLAN_SCHEMA, Plan
from tunecost.planner.market.preemption import run_rate
from tunecost.planner.market.providers import provider_of
from tunecost.planner.quote import (Infeasible, Overheads, Quote, Risk, billed, checkpoint_gb, choose_risk,
                                    hours_breakdown, risk_fields)
from tunecost.planner.model.shapes import ModelShape, catalog_spelling, resolve_shape
from tunecost.planner.model.speed import SpeedEstimate, estimate_speed, peak_tflops
from tunecost.planner.spec import Parallelism, Precision, TrainSpec

__all__ = ["Pricer", "optimize"]

DEFAULT_TOP_K = 50
DEFAULT_MAX_NODES = 8  # x 8 GPUs per node: 64 GPUs at most, unless asked
MUCH_FASTER = 2.0      # a multi-node option is named when it finishes in half the hours or less ...
AT_MOST_DEARER = 1.5   # ... for at most 1.5x the chosen offer's cost


def multi_node_option(chosen: Quote, quotes: list[Quote]) -> Optional[Quote]:
    """A multi-node quote worth naming beside the choice: the cheapest one cheaper than it, else the cheapest
    one at least MUCH_FASTER times faster for at most AT_MOST_DEARER its cost; None when the choice is one."""
    others = [q for q in quotes if q.offer.nodes > 1 and q is not chosen]
    cheaper = [q for q in others if q.cost < chosen.cost]
    faster = [q for q in others if q.hours * MUCH_FASTER <= chosen.hours and q.cost <= chosen.cost * AT_MOST_DEARER]
    pick = cheaper or faster
    return min(pick, key=lambda q: (q.cost, q.hours)) if pick else None


def multi_node_line(chosen: Quote, other: Optional[Quote]) -> str:
    """One line naming that option, or '' when there is none."""
    if other is None:
        return ""
    delta = other.cost - chosen.cost
    money = f"${other.cost:,.2f} ({'+' if delta >= 0 else '-'}${abs(delta):,.2f})"
    return f"multi-node option: {other.offer.describe()} in {other.hours:,.1f} h for {money}, vs {chosen.hours:,.1f} h chosen"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _within_limits(quotes: list[Quote], budget: Optional[float], deadline_hours: Optional[float]) -> list[Quote]:
    """The quotes meeting the deadline and the budget (cheapest first), or a UserError naming the nearest miss.
    Quotes outside the limits are dropped, so the launcher never falls back to one of them."""
    if budget is not None and budget <= 0:
        raise UserError(f"--budget must be a positive number of USD (got {budget:g})")
    if deadline_hours is not None and deadline_hours <= 0:
        raise UserError(f"--deadline must be a positive number of hours (got {deadline_hours:g})")
    in_time = quotes
    if deadline_hours is not None:  # spot: its pessimistic hours (the high preemption rate) must make it
        in_time = [q for q in quotes if q.worst_hours <= deadline_hours]
        if not in_time:
            fastest = min(quotes, key=lambda q: q.worst_hours)
            raise UserError(f"no feasible offer finishes within {deadline_hours:g} h; the fastest is "
                            f"{fastest.offer.describe()} at {fastest.worst_hours:.2f} h"
                            f"{' at the high preemption rate' if fastest.offer.spot else ''} (${fastest.cost:,.2f}); "
                            "raise --deadline or allow more GPUs (--max-gpus, --max-nodes)")
    cheapest = in_time[0]
    if budget is not None and cheapest.cost > budget:
        within = f" within {deadline_hours:g} h" if deadline_hours is not None else ""
        raise UserError(f"cheapest feasible offer{within} costs ${cheapest.cost:,.2f} ({cheapest.offer.describe()}), "
                        "over the budget "
                        f"of ${budget:,.2f}; raise --budget or reduce --tokens/--epochs")
    return [q for q in in_time if budget is None or q.cost <= budget]


def _spelled_out(spec: TrainSpec) -> tuple[TrainSpec, list[str]]:
    """The spec with the catalog's spelling of its model id (the hub is case-sensitive), and one line each for
    that correction and for a dataset size nobody gave."""
    notes = []
    spelled = catalog_spelling(spec.model) if spec.model else None
    if spelled:
        notes.append(f"--model {spec.model}: using the catalog's spelling {spelled} (model ids are case-sensitive "
                     "on the hub)")
        spec = spec.model_copy(update={"model": spelled})
    if spec.dataset.source.startswith("default"):
        notes.append(f"no dataset size given: priced for an assumed {spec.dataset.tokens_per_epoch:,} tokens per "
                     "epoch; give --dataset FILE, --tokens N or --examples/--avg-tokens")
    return spec, notes


def _choose(allowed: list[Quote], warnings: list[str]) -> tuple[Optional[Quote], Quote]:
    """(the chosen quote, the quote whose memory and speed the plan shows). The cheapest the pinned SkyPilot can
    launch is chosen; offers it cannot launch stay in the ranking, marked. With none launchable nothing is chosen
    and the cheapest is shown. A chosen GPU whose speed is assumed, not sourced, gets a warning line."""
    chosen = next((q for q in allowed if q.launchable), None)
    cheapest = allowed[0]
    if chosen is None:
        warnings.append(f"no offer SkyPilot can launch fits, so nothing is chosen: the cheapest, "
                        f"{cheapest.offer.describe()} (${cheapest.cost:,.2f}), is priced for comparison "
                        f"only ({cheapest.not_launchable_why}); widen --providers / --gpu / --max-gpus")
        return None, cheapest
    if chosen is not cheapest:
        skipped = sum(1 for q in allowed[:allowed.index(chosen)] if not q.launchable)
        warnings.append(f"{skipped} cheaper offer{'s' if skipped > 1 else ''} not chosen: SkyPilot cannot launch "
                        f"{'them' if skipped > 1 else 'it'} (the cheapest, {cheapest.offer.describe()} at "
                        f"${cheapest.cost:,.2f}: {cheapest.not_launchable_why}); they stay "
                        "in the table, marked")
    if chosen.speed_assumed:
        warnings.append(f"the chosen {chosen.offer.gpu}'s speed is assumed, not a sourced figure: {chosen.speed_assumed}; "
                        "its hours and cost may be far off")
    return chosen, chosen


def _assumptions(spec: TrainSpec, shape_source: str, headroom: float, total_gpus: int, parallelism: Parallelism,
                 model_notes: list[str]) -> list[str]:
    """Every basis of the chosen quote's numbers, in the order a reader checks them."""
    multi = (f"{total_gpus} GPUs use {parallelism.value.upper()}: DDP where the replicated model fits, else FSDP; "
             "several nodes (same 8+ GPU instance type: the fewest that hold the job, then 2x, 4x ... as many) "
             "within --max-nodes"
             if total_gpus > 1 else "")
    return _unique([
        f"model shape: {shape_source}",
        f"dataset: {spec.dataset.source}; {spec.epochs:g} epoch(s) = {spec.train_tokens:,} training tokens",
        f"fits when the memory band's upper edge per GPU <= {headroom:.0%} of the GPU's memory ('tight' when only "
        "the expected peak does)",
        multi, *model_notes,
        "cost = billed hours x the instance's $/h (whole instance; storage and egress not included); billed hours "
        "follow the provider's increment and minimum (pricing_data/providers.csv), as the bill does",
    ])


class Pricer:
    """Turns offer rows into quotes (or reasons they do not fit), estimating each topology and GPU once.

    Learned corrections (per GPU and method) scale a quote's peak memory, and so its fit, and its hours; the
    line saying so is collected in `notes` for the plan's assumptions."""

    def __init__(self, spec: TrainSpec, shape: ModelShape, fitter: Fitter, overheads: Overheads,
                 corrections: Optional[Corrections] = None) -> None:
        self.spec, self.shape, self.fitter, self.overheads = spec, shape, fitter, overheads
        self.corrections = corrections or Corrections()
        self.model_gb = shape.total_params() * 2 / 1e9  # bf16 weights as downloaded from the hub
        self.speeds: dict[tuple[str, int, Parallelism, Interconnect, int], SpeedEstimate] = {}
        self.fitters: dict[str, Fitter] = {}
        self.quotes: list[Quote] = []
        self.infeasible: dict[tuple[str, int, float], Infeasible] = {}
        self.notes: list[str] = []
        self.speed_of: dict[int, SpeedEstimate] = {}  # id(quote) -> its speed estimate

    def fitter_for(self, gpu: str) -> Fitter:
        """The fitter for this GPU type: peak memory times its learned factor, if one was learned."""
        if gpu not in self.fitters:
            factor, note = self.corrections.adjust_memory(1.0, gpu, self.spec.method.value)
            self.fitters[gpu] = self.fitter.scaled(factor)
            self.notes.append(note or "")
        return self.fitters[gpu]

    def add(self, row: Any) -> None:
        """Quote this offer at every node count worth pricing (Fitter.topologies), or record why it cannot fit."""
        count, has = int(row.gpu_count), float(row.gpu_memory_gib)
        fitter = self.fitter_for(row.gpu)
        topologies = fitter.topologies(count, has)
        if not topologies:
            parallelism, memory, _ = fitter.best(count, has)
            key = (row.gpu, count, round(has, 1))  # one GPU name may cover variants (RTX 4090 24 / 48 GB)
            if key not in self.infeasible:
                self.infeasible[key] = Infeasible(
                    gpu=row.gpu, gpu_count=count, needs_gib=round(fitter.peak(memory), 2), has_gib=round(has, 2),
                    tight=fitter.tight(memory, has),
                    reason=fitter.reason(row.gpu, count, has, memory, parallelism),
                    hint=fitter.hint(count, has, row.gpu, runs=load_gpus()[row.gpu].runs))
            return
        for nodes, parallelism, memory in topologies:
            self._quote(row, fitter, nodes, parallelism, memory)

    def _quote(self, row: Any, fitter: Fitter, nodes: int, parallelism: Parallelism, memory: MemoryEstimate) -> None:
        count, total = int(row.gpu_count), int(row.gpu_count) * nodes
        link = provider_of(str(row.provider)).interconnect(str(row.instance_type), str(row.gpu))
        speed = self._speed(row.gpu, total, parallelism, link, nodes)
        tokens_per_sec = speed.tokens_per_sec_per_gpu * total  # per-GPU speed includes its communication
        offer = Offer(provider=row.provider, region=str(row.region), zone=row.zone, instance_type=row.instance_type,
                      gpu=row.gpu, gpu_count=count, gpu_memory_gib=float(row.gpu_memory_gib), nodes=nodes,
                      spot=bool(row.spot), price_per_hour=float(row.price), as_of=row.as_of, source=row.source)
        price = offer.total_per_hour
        risk = self.risk(str(row.provider), count, nodes, bool(row.spot), memory)
        hours, parts, hours_factor, worst = self.billed_hours(row.gpu, speed, tokens_per_sec, risk)
        rule = provider_of(str(row.provider)).billing
        hours, worst = billed(hours, parts, rule), billed(worst, {}, rule)
        applied = {"memory": fitter.memory_factor} if fitter.memory_factor != 1.0 else {}
        if hours_factor is not None:
            applied["hours"] = hours_factor
        self.quotes.append(Quote(
            offer=offer, hours=hours, cost=hours * price, peak_gib_per_gpu=round(fitter.peak(memory), 2),
            peak_band_gib=tuple(round(x * fitter.memory_factor, 2) for x in memory.band_gib),
            parallelism=parallelism.value, tokens_per_sec=tokens_per_sec,
            hours_breakdown={k: round(v, 6) for k, v in parts.items()}, corrections=applied,
            interconnect=speed.interconnect, interconnect_assumed=speed.interconnect_assumed,
            communication_hours=round(self.spec.train_tokens / tokens_per_sec / 3600 * speed.communication_share, 6),
            **risk_fields(risk), pessimistic_hours=worst, pessimistic_cost=worst * price,
            **self.basis(str(row.provider), row.gpu, spot=bool(row.spot), nodes=nodes)))
        self.speed_of[id(self.quotes[-1])] = speed

    def basis(self, provider: str, gpu: str, *, spot: bool, nodes: int) -> dict[str, Any]:
        """Can the pinned SkyPilot launch it (the provider table), and is the GPU's speed a sourced figure?"""
        why = provider_of(provider).why_not(spot=spot, nodes=nodes)
        _, assumed = peak_tflops(load_gpus()[gpu], self.spec.precision.compute)
        return {"launchable": not why, "not_launchable_why": why, "speed_assumed": assumed or ""}

    def risk(self, provider: str, gpus_per_node: int, nodes: int, spot: bool, memory: MemoryEstimate) -> Risk:
        """Interruption rate, checkpoint write time and interval of this offer (planner/market/preemption.py,
        planner/model/checkpointing.py)."""
        rate = run_rate(provider, gpus_per_node, nodes, spot, override=self.overheads.preemption_rate_per_hour,
                        learned=self.corrections)
        size = checkpoint_gb(self.spec, memory.trainable_params)
        return choose_risk(rate, size, provider_of(provider).checkpoint_storage.write_gb_per_s, nodes, self.overheads)

    def billed_hours(self, gpu: str, speed: SpeedEstimate, tokens_per_sec: float,
                     risk: Risk) -> tuple[float, dict[str, float], Optional[float], float]:
        """(hours, their parts, the learned hours factor or None, pessimistic hours) on this GPU: the modelled
        hours times the factor learned for this GPU and method, its line joining `notes`. The learned share is a
        part of its own, so the parts still add up to the hours. The pessimistic hours re-run the interruption
        model at the high rate with the same interval. `tunecost estimate` prices its topology with this too."""
        args = dict(train_tokens=self.spec.train_tokens, tokens_per_sec=tokens_per_sec, model_gb=self.model_gb,
                    risk=risk, overheads=self.overheads, time_shares=speed.time_shares)
        parts = hours_breakdown(**args)
        modelled = sum(parts.values())
        high = modelled - parts["rework"] + hours_breakdown(**args, rate=risk.rate.high)["rework"]
        hours, note = self.corrections.adjust_hours(modelled, gpu, self.spec.method.value)
        if not note:
            return hours, parts, None, high
        parts[LEARNED_COMPONENT] = hours - modelled
        self.notes.append(note)
        return hours, parts, hours / modelled, high * hours / modelled

    def _speed(self, gpu: str, total: int, parallelism: Parallelism, link: Interconnect, nodes: int) -> SpeedEstimate:
        # single-GPU speed does not depend on the link: one estimate per GPU type
        key = (gpu, total, parallelism, link if total > 1 else None, nodes)
        if key not in self.speeds:
            self.speeds[key] = estimate_speed(self.spec, self.shape, load_gpus()[gpu], gpu_count=total,
                                              parallelism=parallelism, interconnect=link, nodes=nodes)
        return self.speeds[key]


def _split_providers(providers, managed: list[ManagedPrice]) -> tuple[Optional[list[str]], list[ManagedPrice]]:
    """--providers names GPU providers and managed services alike; each list gets its own names."""
    names = [n.lower() for n in split_names(providers)]
    if not names:
        return None, managed
    services = {r.provider for r in managed}
    gpu_names = [n for n in names if n not in services]
    if not gpu_names:
        raise UserError(f"--providers names only managed services ({', '.join(names)}); add a GPU provider "
                        "(e.g. runpod): a plan needs an offer tunecost can launch, the services are quoted beside it")
    return gpu_names, [r for r in managed if r.provider in names]


def optimize(spec: TrainSpec, prices: PriceTables, *, providers=None, gpus=None, spot: str = "any",
             max_gpus: int = 8, max_nodes: int = DEFAULT_MAX_NODES, regions=None, budget: Optional[float] = None,
             deadline_hours: Optional[float] = None, headroom: float = 0.9,
             preemption_rate_per_hour: Optional[float] = None, checkpoint_interval_hours: Optional[float] = None,
             top_k: int = DEFAULT_TOP_K, corrections: Optional[Corrections] = None,
             managed_prices: Optional[list[ManagedPrice]] = None, include_closed: bool = False) -> Plan:
    """Price every offer that fits; rank by cost; mark the (cost, hours) Pareto set; choose within limits.

    `max_gpus` is GPUs per instance; instances of 8+ GPUs are also priced over several nodes, up to `max_nodes`
    (64 GPUs by default). Spot quotes are priced at their expected interruption rate, and the deadline is
    checked against their pessimistic hours (the high rate).

    `corrections` (learned by `tunecost calibrate --apply`) scale each quote's hours and peak memory for its GPU
    and method before ranking and fitting; each one applied is stated in the assumptions. `managed_prices` (the
    hosted services' table) adds their quotes and a one-line verdict against the chosen offer."""
    if not 0 < headroom <= 1:
        raise UserError(f"headroom must be in (0, 1] (got {headroom:g})")
    if max_nodes < 1:
        raise UserError(f"--max-nodes must be at least 1 (got {max_nodes})")
    overheads = Overheads(preemption_rate_per_hour=preemption_rate_per_hour,
                          checkpoint_interval_hours=checkpoint_interval_hours)
    shape = resolve_shape(spec)
    spec, notes = _spelled_out(spec)
    providers, managed_rows = _split_providers(providers, managed_prices or [])
    rows, warnings = select_offers(prices.offers, providers=providers, gpus=gpus, spot=spot, max_gpus=max_gpus,
                                   regions=regions, precision=spec.precision)
    warnings[:0] = notes
    if rows.empty:
        raise UserError("no offers match the filters (--providers / --gpu / --region / --spot / --max-gpus); "
                        "loosen them or run `tunecost prices` to see what is offered")

    pricer = Pricer(spec, shape, Fitter(spec, shape, headroom, max_gpus * max_nodes), overheads, corrections)
    for row in rows.itertuples(index=False):
        pricer.add(row)
    quotes = pricer.quotes

    misfits = sorted(pricer.infeasible.values(), key=lambda i: (-i.has_gib, i.gpu, i.gpu_count))
    if not quotes:
        largest = max(misfits, key=lambda i: (i.has_gib * i.gpu_count, i.has_gib))
        raise UserError(f"nothing fits: {largest.reason} (the largest GPU considered); {largest.hint}")

    quotes.sort(key=lambda q: (q.cost, q.hours))
    allowed = _within_limits(quotes, budget, deadline_hours)
    if len(allowed) < len(quotes):
        warnings.append(f"{len(quotes) - len(allowed)} feasible offers left out: over --budget or past --deadline")
    for quote, on_front in zip(allowed, pareto_mask([(q.cost, q.hours) for q in allowed])):
        quote.pareto = on_front
    chosen, shown = _choose(allowed, warnings)
    kept = [q for i, q in enumerate(allowed) if i < top_k or q.pareto or q is chosen]
    other = multi_node_option(chosen, [q for q in allowed if q.launchable]) if chosen is not None else None
    if other is not None and other not in kept:
        kept.append(other)

    parallelism = Parallelism(shown.parallelism)
    total = shown.offer.gpus
    memory = pricer.fitter_for(shown.offer.gpu).corrected(pricer.fitter.memory(total, parallelism))
    speed = pricer.speed_of[id(shown)]
    assumptions = _assumptions(spec, shape.source, headroom, total, parallelism,
                               [*memory.assumptions, *speed.assumptions, *overheads.assumptions(), *pricer.notes])
    if chosen is not None and chosen.interconnect_assumed:
        warnings.append(f"the chosen offer's hours rest on an assumed interconnect, not the provider's statement: "
                        f"{chosen.interconnect}; its communication takes {chosen.communication_hours:.2f} h, "
                        f"{chosen.hours_breakdown.get('communication', 0):.2f} h of it not overlapped with compute "
                        "(pricing_data/interconnect.csv)")
    no_bf16 = chosen is not None and not load_gpus()[chosen.offer.gpu].supports_bf16
    if no_bf16 and spec.precision is Precision.bf16_mixed:  # pure bf16 never gets here (candidates.py)
        warnings.append(f"{chosen.offer.gpu} has no bf16: the job runs fp16 mixed precision there (the launcher passes "
                        "precision 'auto'); the speed estimate assumes fp16")
    managed = quote_managed(spec, shape.total_params() / 1e9, managed_rows, include_closed=include_closed)
    as_of, age_warnings = prices.age_of(rows)
    return Plan(schema_version=PLAN_SCHEMA, spec=spec, shape=shape, chosen=chosen, quotes=kept, infeasible=misfits,
                fallbacks=plan_fallbacks(chosen, kept),
                prices_as_of=as_of, memory=memory, speed=speed,
                assumptions=assumptions, warnings=_unique([*age_warnings, *warnings]),
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                managed=managed, managed_verdict=verdict(chosen, managed, spec.train_tokens),
                multi_node=multi_node_line(chosen, other))
