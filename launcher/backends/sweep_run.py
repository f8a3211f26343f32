"""Run a sweep: one run per point, one after another, each its own run id, checkpoints and ledger record.

All of a sweep's runs carry one sweep id, so `runs` and `report` can total and compare them. A budget guard sits
between points: it launches the next point only while what is spent (finished points' actual cost) plus what is
committed (unfinished points' estimates) plus the next point's estimate stays within --budget. A point stopped
by Ctrl-C or by its own budget guard ends the sweep; a failed point does not (the next may fit), and the sweep
exits 1 at the end.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable, Optional

from tunecost.launcher.ledger.store import TERMINAL, Ledger, now
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.planner.errors import UserError
from tunecost.planner.money import money
from tunecost.planner.plan import Plan, Sweep

Echo = Callable[[str], None]
# (plan of one point, job overrides, the run id, the record's sweep fields, USD left for the job's own guard)
LaunchPoint = Callable[[Plan, dict[str, Any], str, dict[str, Any], Optional[float]], RunRecord]


def new_sweep_id() -> str:
    return f"sw-{now():%y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def check_overrides(sweep: Sweep, overrides: dict[str, Any]) -> None:
    """A job setting given once for all points and swept too is ambiguous, and a point's setting outside the job's
    range (a hand-edited plan.json) would fail that point only after the others ran: refuse both before any runs."""
    from tunecost.job.job_config import field_type
    from tunecost.job.numbers import check

    for point in sweep.points:
        for key, value in point.job.items():
            try:
                check(value, field_type(key))
            except ValueError as err:
                raise UserError(f"sweep point {point.index + 1} ({point.label}): {key} {value!r}: "
                                f"{str(err).lower()}") from None
    swept = {k for p in sweep.points for k in p.job}
    both = sorted(k for k in swept if overrides.get(k) is not None)
    if both:
        flag = "--" + both[0].replace("_", "-")
        raise UserError(f"{flag} is also swept ({flag[2:]} in the sweep); give it in one place")


def spent_and_committed(ledger: Ledger, sweep_id: str) -> tuple[float, float]:
    """Actual cost of the sweep's finished runs, and the estimates of those still running."""
    runs = [r for r in ledger.list() if r.sweep_id == sweep_id]
    spent = sum(r.actual_cost or 0.0 for r in runs if r.status in TERMINAL)
    committed = sum(r.estimated_cost or 0.0 for r in runs if r.status not in TERMINAL)
    return spent, committed


def run_sweep(plan: Plan, *, launch_point: LaunchPoint, ledger: Ledger, echo: Echo,
              overrides: dict[str, Any], budget: Optional[float] = None, priced: bool = True) -> list[RunRecord]:
    """Every point in order, under the budget guard; returns the records of the points that ran.

    `priced`: the points' quotes are what they will cost (cloud). A local run is billed at --rate, not at the
    plan's cloud quote, so locally only what was spent counts (each run's own guard stops it at what is left)."""
    if plan.sweep is None:
        raise ValueError("run_sweep needs a sweep plan")
    check_overrides(plan.sweep, overrides)
    points = plan.sweep.points
    sweep_id = new_sweep_id()
    records: list[RunRecord] = []
    for point in points:
        estimate = point.quote.cost if point.quotes and priced else 0.0
        spent, committed = spent_and_committed(ledger, sweep_id)
        left = None if budget is None else budget - spent - committed
        if left is not None and (estimate > left or left <= 0):
            echo(f"sweep {sweep_id}: budget guard: spent {money(spent)} + committed {money(committed)} + point "
                 f"{point.index} {money(estimate)} would pass --budget {money(budget or 0)}; "
                 f"{len(points) - len(records)} point(s) not launched")
            break
        run_id = ledger.new_run_id()
        echo(f"sweep {sweep_id}: point {point.index + 1}/{len(points)} {point.label} (run {run_id})")
        fields = {"sweep_id": sweep_id, "sweep_point": point.index, "sweep_params": point.params}
        record = launch_point(plan.point(point), {**overrides, **point.job}, run_id, fields, left)
        records.append(record)
        if record.status == "stopped":
            echo(f"sweep {sweep_id}: point {point.index} stopped; the remaining points are not launched")
            break
    return records
