"""CostSummary: one run's bill, put next to its estimate, in the words a budget owner needs.

WHY: users trust a plan only if it holds up against the bill. So the summary shows the billed time (with the
provider's metering rule and where that rule comes from), the compute cost, what the figure does NOT include,
and how far the estimate was off, in hours and dollars, absolute and relative. views/summary_view.py prints it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, Field

from tunecost.job.run_summary import RunSummary
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.ledger.run_status import TERMINAL
from tunecost.planner.market.billing import SECONDS_PER_HOUR, billed_seconds
from tunecost.planner.market.offer import Offer
from tunecost.planner.market.providers import provider_of
from tunecost.planner.quote import Quote

LOCAL_RATE_ZERO = "rate 0 $/h: local run, no compute billed; pass --rate to price it"
NOT_INCLUDED_CLOUD = (
    "disk and checkpoint-bucket storage",
    "data egress (downloads of the adapter, logs, datasets)",
    "the SkyPilot jobs controller VM (it idles between jobs and bills by itself)",
    "taxes, support plans and credits",
)
NOT_INCLUDED_LOCAL = (
    "electricity and the machine itself",
    "storage of checkpoints on this disk",
)


class CostSummary(BaseModel):
    """The final bill of one run. Money in USD, time in hours (seconds where metering is per second)."""

    run_id: str
    status: str
    backend: str
    tag: str = ""
    model: str = ""
    method: str = ""
    created_at: datetime
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    offer: Offer = Field(description="where it ran; its total_per_hour is the rate billed")
    rate_source: str = ""
    actual_seconds: Optional[float] = None
    time_source: str = ""
    billed_seconds: int = 0
    billed_hours: float = 0.0
    billing_rule: str = ""
    billing_source: str = ""
    billing_as_of: str = ""
    billing_notes: str = ""
    compute_cost: float = 0.0
    not_included: list[str]
    recoveries: int = 0
    estimated_hours: Optional[float] = None
    estimated_cost: Optional[float] = None
    hours_diff: Optional[float] = None
    hours_diff_pct: Optional[float] = None
    cost_diff: Optional[float] = None
    cost_diff_pct: Optional[float] = None
    estimated_peak_gib: Optional[float] = None
    peak_memory_gib: Optional[float] = None
    train_tokens: Optional[int] = None
    planned_tokens: Optional[int] = None  # the plan's training tokens (all epochs), to read train_tokens against
    held_out: float = 0.0  # the share of the dataset the job held out for eval (the plan counted it too)
    usd_per_million_tokens: Optional[float] = None
    final_loss: Optional[float] = None
    eval_loss: Optional[float] = None
    eval_loss_before: Optional[float] = None
    steps: Optional[int] = None
    stop_reason: str = ""
    adapter_dir: str = ""  # where the job wrote the adapter (the full model for --method full), on its machine
    notes: list[str]

    @property
    def is_local(self) -> bool:
        return self.backend == "local" or self.offer.provider in ("", "local")

    @property
    def rate_per_hour(self) -> float:
        return self.offer.total_per_hour

    @property
    def hardware(self) -> str:
        """'A100-80GB x 2 (a2-ultragpu-2g)', or the device of a local run."""
        o = self.offer
        if o.gpu:
            base = f"{o.gpu} x {o.gpu_count}" + (f" x {o.nodes} nodes" if o.nodes > 1 else "")
            return f"{base} ({o.instance_type})" if o.instance_type else base
        return o.instance_type or ("this machine" if self.is_local else "unknown instance")


def _number(value: Any) -> Optional[float]:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _running_time(record: RunRecord) -> tuple[Optional[float], str]:
    """Seconds the instance ran, and where the figure came from.

    The launcher's measured hours come first: they add up the sessions of a resumed run and leave out the time
    it sat stopped, which the ledger's first start to last end would bill.
    """
    if record.actual_hours is not None:
        return record.actual_hours * SECONDS_PER_HOUR, "launcher's measured running time"
    if record.started_at and record.ended_at:
        return max((record.ended_at - record.started_at).total_seconds(), 0.0), "ledger start to end"
    total = record.summary.total_seconds if record.summary else None
    if total is not None and record.status in TERMINAL:
        return total, "job's run_summary total_seconds"
    return None, "not finished: no end time yet"


def _diff(actual: Optional[float], estimate: Optional[float]) -> tuple[Optional[float], Optional[float]]:
    """Actual minus estimate, and that as % of the estimate (None where it cannot be said)."""
    if actual is None or estimate is None:
        return None, None
    pct = (actual - estimate) / estimate * 100.0 if estimate else None
    return actual - estimate, pct


def _run_quote(record: RunRecord) -> Optional[Quote]:
    """The plan's quote, when it describes where the run ran: a local run launched from a cloud plan did not run
    on the quoted GPU, so the quote's region, GPU, hours and cost are not this run's."""
    quote = record.plan.chosen if record.plan else None
    if quote is None or record.backend == "local" and quote.offer.provider != "local":
        return None
    return quote


def _planned_tokens(record: RunRecord) -> Optional[int]:
    """The plan's training tokens, when the plan counted or was given a dataset (not its 10M-token default)."""
    spec = record.plan.spec if record.plan else None
    if spec is None or spec.dataset.source.startswith("default"):
        return None
    return spec.train_tokens


def _unpriced(planned: Optional[Offer], backend: str) -> Offer:
    """Where a record that holds no offer (an old one, stored empty) ran: the plan's offer, at the rate 0 it
    recorded, else this machine or nothing known."""
    if planned is not None:
        return planned.model_copy(update={"price_per_hour": 0.0})
    return Offer(provider="local" if backend == "local" else "")


def summarize(record: RunRecord) -> CostSummary:
    """Build the run's CostSummary from its ledger record (works for unfinished runs too, saying so)."""
    quote = _run_quote(record)
    summary = record.summary or RunSummary()  # no summary: every figure from it is unknown
    offer = record.offer or _unpriced(quote.offer if quote else None, record.backend)
    provider = offer.provider
    rule = provider_of(provider).billing
    seconds, time_source = _running_time(record)
    billed = billed_seconds(seconds, rule) if seconds is not None else 0
    rate = offer.total_per_hour
    cost = billed / SECONDS_PER_HOUR * rate

    est_hours = record.estimated_hours if record.estimated_hours is not None else quote.hours if quote else None
    est_cost = record.estimated_cost if record.estimated_cost is not None else quote.cost if quote else None
    est_peak = (record.estimated_peak_gib if record.estimated_peak_gib is not None
                else quote.peak_gib_per_gpu if quote else None)
    actual_hours = seconds / SECONDS_PER_HOUR if seconds is not None else None
    hours_diff, hours_pct = _diff(actual_hours, est_hours)
    cost_diff, cost_pct = _diff(cost if seconds is not None else None, est_cost)

    tokens = summary.train_tokens if summary.train_tokens and summary.train_tokens > 0 else None
    per_million = cost / tokens * 1e6 if tokens and rate > 0 else None

    is_local = record.backend == "local" or provider == "local"
    notes = []
    if is_local and rate == 0:
        notes.append(LOCAL_RATE_ZERO)
    if not rule.known:
        notes.append(f"billing rule for '{provider}' unknown: assumed per-second, no minimum")
    elif rule.notes.startswith("unknown"):
        notes.append(f"{provider}: {rule.notes}")
    if seconds is None:
        notes.append(f"run is {record.status}: no end time yet, so nothing is billed in this summary")
    if record.recoveries:
        plural = "recovery" if record.recoveries == 1 else "recoveries"
        minimum = (f" and not the up to {rule.minimum_seconds} s minimum each new instance may add"
                   if rule.minimum_seconds else "")
        notes.append(f"{record.recoveries} {plural}: the time billed here runs from the job's first start to its "
                     f"end, so it also counts the waits for a new instance (no instance bills then){minimum}; "
                     "the provider's bill can differ by that much")

    return CostSummary(
        run_id=record.id, status=record.status, backend=record.backend, tag=record.tag,
        model=record.model or summary.model or "", method=record.method or summary.method or "",
        created_at=record.created_at, started_at=record.started_at, ended_at=record.ended_at,
        offer=offer, rate_source=record.rate_source,
        actual_seconds=seconds, time_source=time_source,
        billed_seconds=billed, billed_hours=billed / SECONDS_PER_HOUR,
        billing_rule=rule.describe(), billing_source=rule.source_url, billing_as_of=rule.as_of,
        billing_notes=rule.notes, compute_cost=cost,
        not_included=list(NOT_INCLUDED_LOCAL if is_local else NOT_INCLUDED_CLOUD),
        recoveries=record.recoveries,
        estimated_hours=est_hours, estimated_cost=est_cost,
        hours_diff=hours_diff, hours_diff_pct=hours_pct, cost_diff=cost_diff, cost_diff_pct=cost_pct,
        estimated_peak_gib=est_peak, peak_memory_gib=summary.peak_memory_gib,
        train_tokens=tokens, usd_per_million_tokens=per_million,
        planned_tokens=_planned_tokens(record),
        held_out=summary.ran.eval_fraction if summary.ran else 0.0,
        final_loss=summary.final_loss, eval_loss=summary.eval_loss, eval_loss_before=summary.eval_loss_before,
        steps=summary.steps,
        stop_reason=str(summary.stop_reason or ""), notes=notes,
        adapter_dir=summary.adapter_dir or summary.model_dir or "",
    )
