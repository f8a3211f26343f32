"""Launching a sweep: a real local rank sweep of the job's tiny model (one run per point, one sweep id, losses and
the total in `report` and `runs`); on SkyPilot one managed job per point under the spent + committed guard (only
sky_client's cloud calls replaced); bad sweep input refused in one line before anything is recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tunecost.launcher.ledger.store import Ledger, now
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.backends.sweep_launch import launch_sweep
from tunecost.launcher.backends.sweep_run import run_sweep
from tunecost.planner.market.offers import OFFER_COLUMNS, PriceTables
from tunecost.planner.sweep import price_sweep
from tunecost.planner.sweep_grid import expand
from tunecost.planner.quote import Quote

from .conftest import OPTIMIZED_SPEC, _offer, quote
from .test_launch_sky_managed import FakeSky

TUNECOST = [sys.executable, "-c", "from tunecost.launcher.cli import main; main()"]


def _cli(args: list[str], home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TUNECOST_HOME": str(home), "PYTHONUNBUFFERED": "1", "COLUMNS": "160"}
    return subprocess.run(TUNECOST + args, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow  # two real training runs
def test_local_rank_sweep_runs_every_point_and_reports_losses_and_the_total(tmp_path):
    home = tmp_path / "home"
    result = _cli(["launch", "--local", "--model", "tiny", "--dataset", "demo", "--sweep", "rank=4,8",
                   "--max-steps", "1", "--eval-fraction", "0.5", "--tag", "sw"], home)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = Ledger(home).list()
    assert [r.sweep_params for r in runs] == [{"rank": 4}, {"rank": 8}] and [r.sweep_point for r in runs] == [0, 1]
    assert len({r.sweep_id for r in runs}) == 1 and runs[0].sweep_id.startswith("sw-")
    assert len({r.id for r in runs}) == 2 and len({r.output_dir for r in runs}) == 2  # own run id, own checkpoints
    assert all(r.status == "succeeded" and r.tag == "sw" for r in runs)
    assert [r.plan.spec.rank for r in runs] == [4, 8]
    assert all(r.summary.final_loss > 0 and r.summary.eval_loss > 0 for r in runs)
    report = _cli(["report"], home, timeout=120).stdout
    assert f"Sweep {runs[0].sweep_id}: 2 points, 2 succeeded" in report and "sweep total: $" in report
    for r in runs:
        line = next(line for line in report.splitlines() if r.id in line and f"rank={r.plan.spec.rank}" in line)
        assert f"{r.summary.final_loss:.4f}" in line and f"{r.summary.eval_loss:.4f}" in line
    listing = _cli(["runs"], home, timeout=120).stdout
    assert "Sweeps" in listing and runs[0].sweep_id in listing
    md = _cli(["report", "--format", "md"], home, timeout=120).stdout
    assert f"## Sweep {runs[0].sweep_id}: 2 points, 2 succeeded" in md


TABLES = PriceTables(offers=pd.DataFrame([
    _offer("runpod", "US", "1x_A100-80GB_SECURE", "A100-80GB", 1, 80.0, 1.64, spot=1.19),
    _offer("lambda", "us-east-1", "gpu_1x_a100_sxm4", "A100-80GB", 1, 80.0, 1.79),
], columns=OFFER_COLUMNS), as_of="2026-11-01")


def _sweep_plan(ranks):
    points = [(p, OPTIMIZED_SPEC.model_copy(update={"rank": p["rank"]})) for p in expand({"rank": ranks})]
    return price_sweep(points, TABLES)


def _sky_sweep(tmp_path, monkeypatch, plan, budget, home):
    FakeSky(monkeypatch)
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    ledger = Ledger(home)
    echoed: list[str] = []
    records = launch_sweep(plan, local=False, dataset=dataset, ledger=ledger, echo=echoed.append,
                           confirm=lambda q: pytest.fail("no prompt expected"), model=None, rate=None, budget=budget,
                           nproc=1, tag="", overrides={}, bucket="my-ckpts", top_k=2, max_restarts=1)
    return records, echoed


def test_sky_sweep_is_one_managed_job_per_point_and_the_guard_stops_launching__sky_client_replaced(
        tmp_path, monkeypatch):
    plan = _sweep_plan([4, 8, 16])
    free, _ = _sky_sweep(tmp_path, monkeypatch, plan, None, tmp_path / "a")
    assert [r.backend for r in free] == ["sky-managed"] * 3 and len({r.sweep_id for r in free}) == 1
    assert [r.estimated_cost for r in free] == [p.quote.cost for p in plan.sweep.points]
    assert [r.plan.spec.rank for r in free] == [4, 8, 16]  # each job trains its own point
    # a budget that covers the first point's bill and the second's estimate, not the third point as well
    budget = free[0].actual_cost + plan.sweep.points[1].quote.cost + 1e-6
    guarded, echoed = _sky_sweep(tmp_path, monkeypatch, plan, budget, tmp_path / "b")
    assert len(guarded) == 2
    assert any("budget guard" in e and "1 point(s) not launched" in e for e in echoed)
    assert len(Ledger(tmp_path / "b").list()) == 2  # the third point left no record


def test_guard_counts_what_unfinished_points_committed__recording_launcher_in_place_of_the_backends(tmp_path):
    """The backends are replaced by a launcher that records a detached, still running run with a $1 estimate."""
    ledger = Ledger(tmp_path)
    one_dollar = Quote.model_validate(quote(price=0.5, hours=2.0))
    plan = _sweep_plan([4, 8, 16])
    plan.sweep.points = [p.model_copy(update={"quotes": [one_dollar]}) for p in plan.sweep.points]

    def detached(point_plan, job, run_id, fields, left):
        return ledger.create(RunRecord(id=run_id, status="running", backend="sky-managed", created_at=now(),
                                       estimated_cost=1.0, **fields))

    echoed: list[str] = []
    records = run_sweep(plan, launch_point=detached, ledger=ledger, echo=echoed.append, overrides={}, budget=2.5)
    assert len(records) == 2
    assert "spent $0.00 + committed $2.00 + point 2 $1.00 would pass --budget $2.50" in echoed[-1]


@pytest.mark.parametrize("args, says", [
    (["--sweep", "colour=1"], "unknown sweep key 'colour'"),
    (["--sweep", "rank=4", "--sweep", "learning-rate=1e-4", "--learning-rate", "1e-3"],
     "--learning-rate is also swept"),
])
def test_bad_sweep_launch_is_one_line_and_records_nothing(tmp_path, args, says):
    home = tmp_path / "home"
    result = _cli(["launch", "--local", "--model", "tiny", "--dataset", "demo", *args], home, timeout=120)
    assert result.returncode == 2 and says in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in result.stderr
    assert Ledger(home).list() == []


def test_a_plan_file_with_sweep_flags_is_refused(tmp_path, write_plan):
    result = _cli(["launch", "--local", str(write_plan(_sweep_plan([4]))), "--dataset", "demo", "--sweep", "rank=8"],
                  tmp_path / "home", timeout=120)
    assert result.returncode == 2 and "a plan file brings its own" in result.stderr
