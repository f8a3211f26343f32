"""A sweep in the ledger: its points side by side (settings, status, final and eval loss, cost) and its total.

One source for the table `launch` prints after a sweep, the per-sweep totals of `tunecost runs`, and the sweep
section of `tunecost report` (views/sweep_view.py and views/runs_view.py print them); the lowest eval loss (else
final loss) is marked so the winner is visible.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel

from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.planner.sweep_grid import label


class SweepRow(BaseModel):
    run_id: str
    point: int
    settings: str
    status: str
    final_loss: Optional[float] = None
    eval_loss: Optional[float] = None
    estimated_cost: Optional[float] = None
    actual_cost: Optional[float] = None
    best: bool = False


class SweepTotal(BaseModel):
    sweep_id: str
    points: int
    succeeded: int
    estimated_cost: Optional[float] = None
    actual_cost: float
    actual_hours: float
    rows: list[SweepRow]


def _loss(record: RunRecord, key: str) -> Optional[float]:
    """The summary's final_loss or eval_loss (None when the job wrote no summary, or no such loss)."""
    return getattr(record.summary, key) if record.summary else None


def sweep_totals(records: list[RunRecord]) -> list[SweepTotal]:
    """One total per sweep id among these records, its points in order; records of no sweep are left out."""
    groups: dict[str, list[RunRecord]] = {}
    for r in records:
        if r.sweep_id:
            groups.setdefault(r.sweep_id, []).append(r)
    totals = []
    for sweep_id, runs in groups.items():
        runs.sort(key=lambda r: (r.sweep_point if r.sweep_point is not None else -1, r.created_at))
        rows = [SweepRow(run_id=r.id, point=r.sweep_point if r.sweep_point is not None else -1,
                         settings=label(r.sweep_params), status=r.status, final_loss=_loss(r, "final_loss"),
                         eval_loss=_loss(r, "eval_loss"), estimated_cost=r.estimated_cost,
                         actual_cost=r.actual_cost) for r in runs]
        scored = [row for row in rows if row.status == "succeeded" and (row.eval_loss or row.final_loss) is not None]
        if scored:
            key = "eval_loss" if all(row.eval_loss is not None for row in scored) else "final_loss"
            min(scored, key=lambda row: getattr(row, key)).best = True
        estimates = [r.estimated_cost for r in runs]
        totals.append(SweepTotal(
            sweep_id=sweep_id, points=len(runs), succeeded=sum(r.status == "succeeded" for r in runs),
            estimated_cost=sum(e for e in estimates if e is not None) if any(e is not None for e in estimates) else None,
            actual_cost=sum(r.actual_cost or 0.0 for r in runs), actual_hours=sum(r.actual_hours or 0.0 for r in runs),
            rows=rows))
    return totals
