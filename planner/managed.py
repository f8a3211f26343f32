"""Managed fine-tuning beside rented GPUs: what each hosted service would bill for this fine-tune, and a verdict.

A service bills tokens, not hours, by its own rule: epochs x training tokens, and (Together) without packing
every example at its full max length, so padding is paid for. So the quote is rate x billed tokens, at least
the service's minimum charge, with what serving the result costs where the service states it. Open-weight
services train the same model the user asked for; closed ones (OpenAI, Gemini) train another model and are
quoted only when asked (`--include-closed`), marked as such. Pure: the price rows come in as arguments.
"""

from __future__ import annotations

import re
from typing import Optional

from pydantic import BaseModel, Field

from tunecost.planner.errors import UserError
from tunecost.planner.market.managed_prices import ManagedPrice
from tunecost.planner.money import money
from tunecost.planner.quote import Quote
from tunecost.planner.spec import Method, TrainSpec

# Which service methods train what our methods train. A service that says only "sft" picks its own method.
SERVICE_METHODS = {
    Method.full: ("sft-full", "sft"),
    Method.lora: ("sft-lora", "sft"),
    Method.qlora: ("sft-lora", "sft"),  # the service trains a LoRA adapter; whether in 4 bits is its choice
    Method.prompt_tuning: (),
}
FIXED_PARTS = ("provisioning", "setup", "model_download")  # billed hours that do not grow with the dataset


class ManagedQuote(BaseModel):
    """One hosted service priced for this fine-tune. Money in USD; tokens as the service bills them."""

    provider: str
    model_bracket: str = Field(description="the table's model column: a size bracket or the model trained")
    method: str = Field(description="the service's method name (sft-lora, sft-full, sft)")
    usd_per_million_tokens: float
    billed_tokens: int
    cost: float = Field(description="rate x billed tokens, at least the minimum charge")
    minimum_usd: float = 0.0
    serving_note: str = Field(default="", description="what serving the result costs, where the service says")
    as_of: str = ""
    source: str
    source_kind: str
    open_weights: bool = Field(description="False: a closed model, not the model the plan is for")
    status: str = "active"
    billing_note: str = Field(default="", description="how billed_tokens was counted")


def _normal(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


def _named_model_matches(row: ManagedPrice, model: Optional[str]) -> bool:
    """'Llama 2 13B' matches meta-llama/Llama-2-13b-hf; 'mistral models' matches any Mistral model."""
    if not model:
        return False
    name = _normal(re.sub(r"\bmodels?\b", "", row.models))
    return bool(name) and name in _normal(model)


def _bracket(rows: list[ManagedPrice], params_b: float) -> Optional[ManagedPrice]:
    """The smallest bracket whose upper bound holds the model; a size between two brackets takes the upper one."""
    holding = [r for r in rows if r.max_params_b is None or params_b <= r.max_params_b]
    return min(holding, key=lambda r: float("inf") if r.max_params_b is None else r.max_params_b, default=None)


def _billed_tokens(spec: TrainSpec, row: ManagedPrice) -> tuple[int, str]:
    """Tokens the service bills and how they were counted."""
    if row.bills_padding and not spec.packing:
        if spec.dataset.examples:
            billed = int(spec.dataset.examples * spec.seq_len * spec.epochs)
            return billed, (f"no packing: each of {spec.dataset.examples:,} examples billed at max length "
                            f"{spec.seq_len:,} x {spec.epochs:g} epoch(s)")
        return spec.train_tokens, ("no packing: the service bills each example at max length; the example "
                                   "count is unknown (give --examples or --dataset), so padding is not priced")
    return spec.train_tokens, f"training tokens x {spec.epochs:g} epoch(s)"


def _quote(spec: TrainSpec, row: ManagedPrice) -> ManagedQuote:
    billed, how = _billed_tokens(spec, row)
    rate = row.usd_per_million_training_tokens or 0.0
    minimum = row.minimum_charge_usd or 0.0
    return ManagedQuote(
        provider=row.provider, model_bracket=row.models if row.open_weights != "no" else f"{row.models} (closed)",
        method=row.method, usd_per_million_tokens=rate, billed_tokens=billed,
        cost=max(minimum, rate * billed / 1e6), minimum_usd=minimum, serving_note=row.serving, as_of=row.as_of,
        source=row.source, source_kind=row.source_kind, open_weights=row.open_weights != "no", status=row.status,
        billing_note=how)


def quote_managed(spec: TrainSpec, params_b: float, rows: list[ManagedPrice], *,
                  include_closed: bool = False) -> list[ManagedQuote]:
    """Every service that can train this model with this method (closed models only when asked), cheapest first.

    Rows without a per-token rate (a per-hour rate with no published speed, a minimum alone) cannot be priced
    for a token count, so they are left out."""
    methods = SERVICE_METHODS[spec.method]
    priced = [r for r in rows if r.method in methods and r.usd_per_million_training_tokens is not None]
    chosen: list[ManagedPrice] = []
    for provider in dict.fromkeys(r.provider for r in priced):
        own = [r for r in priced if r.provider == provider]
        for method in methods:  # the exact method first (sft-lora), then the service's own (sft)
            rows_m = [r for r in own if r.method == method]
            open_rows = [r for r in rows_m if r.open_weights != "no"]
            brackets = [r for r in open_rows if r.is_bracket]
            hit = _bracket(brackets, params_b) if brackets else None
            named = [r for r in open_rows if not r.is_bracket and _named_model_matches(r, spec.model)]
            closed = [r for r in rows_m if r.open_weights == "no"] if include_closed else []
            found = ([hit] if hit else []) + named + closed
            if found:
                chosen.extend(found)
                break
    return sorted((_quote(spec, r) for r in chosen), key=lambda q: (not q.open_weights, q.cost))


def _tokens(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:,.{0 if n >= 100 * size else 1}f}{unit}"
    return f"{n:,.0f}"


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def break_even_tokens(chosen: Quote, managed: ManagedQuote, train_tokens: int) -> Optional[float]:
    """Training tokens at which renting the chosen offer and the managed service cost the same, or None.

    Renting is modelled as fixed + per-token: the start-up hours (provisioning, setup, download) are paid once,
    the rest of the quote grows with the tokens. The service is max(minimum, rate x billed tokens)."""
    fixed = chosen.offer.total_per_hour * sum(chosen.hours_breakdown.get(k, 0.0) for k in FIXED_PARTS)
    per_token = max(chosen.cost - fixed, 0.0) / train_tokens
    billed_per_token = managed.usd_per_million_tokens / 1e6 * managed.billed_tokens / train_tokens
    if billed_per_token <= per_token:
        return None
    crossing = fixed / (billed_per_token - per_token)
    if billed_per_token * crossing >= managed.minimum_usd:
        return crossing
    return (managed.minimum_usd - fixed) / per_token if per_token > 0 and managed.minimum_usd > fixed else None


def verdict(chosen: Optional[Quote], managed: list[ManagedQuote], train_tokens: int) -> str:
    """One line: renting the chosen offer against the cheapest open-weight service, and where that flips."""
    same_model = [q for q in managed if q.open_weights]
    if chosen is None or not same_model:
        return ""
    best = same_model[0]
    where = best.provider.capitalize()
    n = break_even_tokens(chosen, best, train_tokens)
    if chosen.cost <= best.cost:
        ratio = best.cost / chosen.cost if chosen.cost > 0 else float("inf")
        line = f"renting is {money(chosen.cost)} vs {money(best.cost)} at {where} ({_times(ratio)})"
        return line + (f"; managed wins below about {_tokens(n)} training tokens" if n and n < train_tokens else "")
    ratio = chosen.cost / best.cost if best.cost > 0 else float("inf")
    line = f"managed at {where} is {money(best.cost)} vs renting {money(chosen.cost)} ({_times(ratio)})"
    return line + (f"; renting wins above about {_tokens(n)} training tokens" if n and n > train_tokens else "")


def refuse_managed_launch(provider: str, managed_providers: set[str]) -> None:
    """`tunecost launch` runs the bundled job on rented GPUs; a managed service runs its own."""
    if provider.lower() in managed_providers:
        raise UserError(f"{provider} is a managed fine-tuning service: tunecost cannot launch there; submit the job "
                        f"on {provider}'s own platform, or launch one of the plan's GPU offers")
