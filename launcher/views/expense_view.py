"""The expense report as text: Markdown and HTML from jinja2 templates (HTML autoescaped), CSV from pandas in the
columns expense tools import, JSON from pydantic. The report itself (line items, totals) is reports/expense_report.py.
"""

from __future__ import annotations

from tunecost.launcher.reports.expense_report import ExpenseReport, cents
from tunecost.launcher.views.safe_text import csv_cells
from tunecost.launcher.views.templates import template_env, with_places
from tunecost.planner.errors import UserError
from tunecost.planner.money import SMALL_USD

FORMATS = ("md", "html", "csv", "json")
CSV_COLUMNS = ["date", "vendor", "description", "quantity", "unit_price", "amount", "currency", "reference"]


def money_places(report: ExpenseReport) -> int:
    """4 when any price or cost in the report is a fraction of ten cents (money()'s rule, for the whole report,
    so no row mixes 0.00 with 0.0000), else 2."""
    amounts = [v for i in report.items for v in (i.unit_price, i.actual_cost, i.amount, i.estimated_cost,
                                                   i.summary.compute_cost) if v is not None]
    return 4 if any(0 < abs(v) < SMALL_USD for v in amounts) else 2


def to_csv(report: ExpenseReport) -> str:
    """The line items in the columns expense tools import; a final TOTAL row is deliberately absent."""
    import pandas as pd

    frame = pd.DataFrame(csv_cells({**i.model_dump(include=set(CSV_COLUMNS)), "date": i.date.isoformat(),
                                    "amount": f"{cents(i.amount)}"} for i in report.items), columns=CSV_COLUMNS)
    return frame.to_csv(index=False, lineterminator="\n")


def render(report: ExpenseReport, fmt: str) -> str:
    """The report as md, html, csv or json text."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return to_csv(report)
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    env = with_places(template_env(), money_places(report))
    return env.get_template(f"report.{fmt}.j2").render(report=report)
