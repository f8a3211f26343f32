"""`tunecost launch` of a sweep: each point on this machine (--local) or as its own SkyPilot managed job.

Both backends are the single-run ones, called once per point by run_sweep with the point's plan, its job settings
and the sweep fields for its ledger record; the command prints the sweep's table (views/sweep_view.py) after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from tunecost.launcher.ledger.store import Ledger
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.backends.sweep_run import run_sweep
from tunecost.planner.plan import Plan

Echo = Callable[[str], None]


def launch_sweep(plan: Plan, *, local: bool, dataset: Path, ledger: Ledger, echo: Echo,
                 confirm: Callable[[str], bool], model: Optional[str], rate: Optional[float],
                 budget: Optional[float], nproc: int, tag: str, overrides: dict[str, Any], bucket: Optional[str],
                 top_k: int, max_restarts: int) -> list[RunRecord]:
    """Run every point in order under the sweep's budget guard; returns their records."""
    if local:
        from tunecost.launcher.backends.local import start_local

        def launch_point(point_plan, job, run_id, fields, left):
            return start_local(point_plan, dataset=str(dataset), ledger=ledger, echo=echo, model=model, rate=rate,
                               budget_usd=left, nproc=nproc, tag=tag, overrides=job, run_id=run_id, sweep=fields)
    else:
        from tunecost.launcher.backends import skypilot as sky_backend
        from tunecost.launcher.backends.sky_task import default_bucket

        def launch_point(point_plan, job, run_id, fields, left):
            prep = sky_backend.prepare(point_plan, dataset=dataset, bucket=bucket or default_bucket(), ledger=ledger,
                                       model=model, budget_usd=left, overrides=job, top_k=top_k,
                                       max_restarts_on_errors=max_restarts, run_id=run_id, tag=tag)
            return sky_backend.launch_managed(prep.model_copy(update={"sweep": fields}), ledger=ledger, echo=echo,
                                              confirm=confirm, tag=tag)

    return run_sweep(plan, launch_point=launch_point, ledger=ledger, echo=echo, overrides=overrides,
                     budget=budget, priced=not local)
