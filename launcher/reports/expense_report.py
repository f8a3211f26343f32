"""Expense report over several runs: line items an expense tool takes, totals per provider and per tag.

WHY: the person who pays files a report, not a ledger dump. Each finished run becomes one line item (date,
vendor, description, quantity in hours, unit price, amount, currency, reference); amounts are rounded to the
cent once, and every total is the sum of those rounded amounts, so the report adds up to the cent.
views/expense_view.py renders it: Markdown and HTML from jinja2 templates (HTML autoescaped), CSV from pandas,
JSON from pydantic.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Optional

from pydantic import BaseModel, Field

from tunecost.launcher.reports.cost_summary import CostSummary, summarize
from tunecost.launcher.ledger.store import TERMINAL, now
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.reports.sweep_report import SweepTotal, sweep_totals
from tunecost.planner.errors import UserError
from tunecost.planner.market.providers import provider_of

CENT = Decimal("0.01")


def _vendor(provider: str) -> str:
    """The name on the provider's invoice (pricing_data/providers.csv), else the provider as recorded."""
    return provider_of(provider).display_name


class LineItem(BaseModel):
    """One run as an expense line. `amount` is rounded to the cent; the exact cost is in `summary`."""

    date: date
    vendor: str
    description: str
    quantity: float
    unit_price: float
    amount: float
    currency: str = "USD"
    reference: str
    tag: str
    status: str
    actual_cost: float
    estimated_cost: Optional[float] = None
    estimated_hours: Optional[float] = None
    actual_hours: Optional[float] = None
    summary: CostSummary

    @property
    def provider(self) -> str:
        """The key the totals group by (the vendor column shows its display name)."""
        return self.summary.offer.provider or "unknown"


class Total(BaseModel):
    key: str
    runs: int
    hours: float
    amount: float


class Bar(BaseModel):
    """One bar of the inline SVG chart, in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    kind: str
    label: str


class Chart(BaseModel):
    title: str
    unit: str
    width: float
    height: float
    baseline: float
    bars: list[Bar]
    labels: list[tuple[float, str]]
    maximum: float
    has_estimates: bool


class ExpenseReport(BaseModel):
    title: str
    generated_at: datetime
    since: Optional[date] = None
    until: Optional[date] = None
    tag: Optional[str] = None
    currency: str = "USD"
    items: list[LineItem]
    by_provider: list[Total]
    by_tag: list[Total]
    total: float
    total_hours: float
    estimated_total: Optional[float] = None
    left_out: list[str]
    notes: list[str]
    not_included: list[str]
    billing_rules: list[dict[str, str]]
    charts: list[Chart]
    sweeps: list[SweepTotal] = Field(default_factory=list, description="per sweep: each point's losses, the total")


def cents(value: float) -> Decimal:
    """Rounded to the cent, half up: each line's amount once; every total adds these."""
    return Decimal(repr(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _description(s: CostSummary) -> str:
    where = " ".join(p for p in (s.offer.provider, s.offer.region) if p and p != "local")
    pricing = s.offer.market
    text = f"{s.method + ' ' if s.method else ''}fine-tune of {s.model or '?'} on {s.hardware}"
    text += f", {where} {pricing}" if where else ", local run"
    return text + (f" [tag: {s.tag}]" if s.tag else "")


def line_item(record: RunRecord) -> LineItem:
    """A finished run as an expense line (quantity = billed hours, unit price = instance $/h)."""
    s = summarize(record)
    when = (s.ended_at or s.started_at or s.created_at).date()
    return LineItem(
        date=when, vendor=_vendor(s.offer.provider), description=_description(s),
        quantity=round(s.billed_hours, 4), unit_price=round(s.rate_per_hour, 4),
        amount=float(cents(s.compute_cost)), actual_cost=s.compute_cost, reference=s.run_id,
        tag=s.tag, status=s.status, estimated_cost=s.estimated_cost, estimated_hours=s.estimated_hours,
        actual_hours=None if s.actual_seconds is None else s.actual_seconds / 3600.0, summary=s,
    )


def _totals(items: list[LineItem], key: str) -> list[Total]:
    """Totals per provider or per tag, from a pandas group-by over the rounded line amounts."""
    import pandas as pd

    frame = pd.DataFrame([{"key": getattr(i, key) or "(no tag)", "hours": i.quantity,
                           "amount": cents(i.amount)} for i in items])
    grouped = frame.groupby("key", sort=True).agg(runs=("amount", "size"), hours=("hours", "sum"),
                                                 amount=("amount", lambda col: sum(col, Decimal(0))))
    return [Total(key=str(k), runs=int(r.runs), hours=round(float(r.hours), 4), amount=float(r.amount))
            for k, r in grouped.iterrows()]


def _chart(items: list[LineItem], title: str, unit: str, actual: str, estimate: str) -> Chart:
    """Paired bars per run (actual, estimate), scaled to the largest value; geometry here, markup in the template."""
    width, height, left, bottom, top = 760.0, 220.0, 60.0, 40.0, 16.0
    pairs = [(i.reference, getattr(i, actual), getattr(i, estimate)) for i in items]
    maximum = max([v for _, a, e in pairs for v in (a, e) if v is not None] + [0.0])
    slot = (width - left - 10) / max(len(pairs), 1)
    bar = min(slot * 0.38, 40.0)
    plot = height - bottom - top
    bars, labels = [], []
    for n, (ref, a, e) in enumerate(pairs):
        x0 = left + n * slot + (slot - 2 * bar) / 2
        for k, (kind, value) in enumerate((("actual", a), ("estimate", e))):
            if value is None:
                continue
            h = plot * value / maximum if maximum > 0 else 0.0
            bars.append(Bar(x=x0 + k * bar, y=height - bottom - h, width=bar * 0.92, height=h, kind=kind,
                            label=f"{ref} {kind}: {value:,.4f} {unit}"))
        labels.append((x0 + bar, ref))
    return Chart(title=title, unit=unit, width=width, height=height, baseline=height - bottom,
                 bars=bars, labels=labels, maximum=maximum, has_estimates=any(b.kind == "estimate" for b in bars))


def build_report(records: list[RunRecord], since: Optional[date] = None, until: Optional[date] = None,
                 tag: Optional[str] = None) -> ExpenseReport:
    """The expense report over these runs; unfinished runs are listed as left out. UserError if none is left."""
    finished = [r for r in records if r.status in TERMINAL]
    left_out = [f"{r.id} ({r.status}: not finished, no final bill yet)" for r in records if r.status not in TERMINAL]
    if not finished:
        period = f" from {since or 'the first run'} to {until or 'today'}" + (f" with tag '{tag}'" if tag else "")
        raise UserError(f"no finished runs{period} ({len(records)} runs matched, none finished); "
                        "widen --since/--until, drop --tag, or see tunecost runs")
    items = sorted((line_item(r) for r in finished), key=lambda i: (i.date, i.reference))
    total = sum((cents(i.amount) for i in items), Decimal(0))
    estimates = [i.estimated_cost for i in items if i.estimated_cost is not None]
    rules = {}
    for i in items:
        s = i.summary
        source = s.billing_source or ("this machine: no provider bill" if s.is_local else "no source found")
        rules[s.offer.provider] = {"provider": s.offer.provider, "rule": s.billing_rule, "source": source,
                                   "as_of": s.billing_as_of}
    not_included = sorted({text for i in items for text in i.summary.not_included})
    runs_by_note: dict[str, list[str]] = {}
    for i in items:
        for n in i.summary.notes:
            runs_by_note.setdefault(n, []).append(i.reference)
    notes = [f"{n} (runs: {', '.join(ids)})" for n, ids in runs_by_note.items()]
    notes += [f"left out: {text}" for text in left_out]
    return ExpenseReport(
        title="Fine-tuning compute expenses", generated_at=now(), since=since, until=until, tag=tag,
        items=items, by_provider=_totals(items, "provider"), by_tag=_totals(items, "tag"),
        total=float(total), total_hours=round(sum(i.quantity for i in items), 4),
        estimated_total=round(sum(estimates), 2) if estimates else None, left_out=left_out, notes=notes,
        not_included=not_included, billing_rules=list(rules.values()),
        charts=[_chart(items, "Compute cost per run: actual vs estimate", "USD", "actual_cost", "estimated_cost"),
                _chart(items, "Hours per run: actual vs estimate", "h", "actual_hours", "estimated_hours")],
        sweeps=sweep_totals(finished),
    )
