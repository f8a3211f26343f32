"""`tunecost calibrate` learns spot preemption rates from the recoveries managed spot runs recorded, and later
plans price that provider's spot offers at the learned rate, saying so."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.reports.calibrate import JEFFREYS, apply, calibrate
from tunecost.planner.corrections import load_corrections
from tunecost.planner.market.offers import OFFER_COLUMNS, PriceTables
from tunecost.planner.optimizer import optimize
from tunecost.planner.spec import DatasetSize, TrainSpec

from ..conftest import MULTI_NODE


def _run(run_id: str, hours: float, recoveries: int, *, gpus: int = 1, spot: bool = True, plan=None,
         backend: str = "sky-managed") -> RunRecord:
    return RunRecord(id=run_id, status="succeeded", backend=backend, created_at=datetime.now(timezone.utc),
                     provider="aws", gpu="L4", gpu_count=gpus, spot=spot, actual_hours=hours,
                     recoveries=recoveries, plan=plan)


def test_rates_per_provider_and_instance_class_from_recoveries(tmp_path):
    two_nodes = MULTI_NODE  # its chosen offer runs on 2 nodes of 8 GPUs
    records = [_run("a", 10.0, 3), _run("b", 5.0, 1), _run("c", 4.0, 2, gpus=8, plan=two_nodes),
               _run("d", 9.0, 9, spot=False), _run("e", 9.0, 9, backend="local")]
    rates = {(r.provider, r.min_gpus): r for r in calibrate(records).rates}
    assert set(rates) == {("aws", 1), ("aws", 8)}  # on-demand and local runs teach nothing about spot
    one = rates[("aws", 1)]
    assert (one.recoveries, one.node_hours, one.runs) == (4, 15.0, 2)
    assert one.rate == pytest.approx((4 + JEFFREYS) / 15.0)
    eight = rates[("aws", 8)]
    assert eight.node_hours == pytest.approx(8.0) and eight.rate == pytest.approx((2 + JEFFREYS) / 8.0)

    home = tmp_path / "home"
    apply(calibrate(records), home=home)
    learned = load_corrections(home)
    offers = [dict(provider="aws", region="us-east-1", zone="", instance_type="g6.xlarge", gpu="L4", gpu_count=1,
                   gpu_memory_gib=22.35, vcpus=4, memory_gib=16, price_per_hour=0.8, spot_price_per_hour=0.3,
                   as_of="2026-11-01", source="test", flag="")]
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", dataset=DatasetSize(tokens_per_epoch=10**7))
    prices = PriceTables(offers=pd.DataFrame(offers, columns=OFFER_COLUMNS), as_of="2026-11-01")
    plan = optimize(spec, prices, spot="spot", corrections=learned)
    assert plan.chosen.preemption_rate_per_hour == pytest.approx(one.rate)
    assert plan.chosen.preemption_source.startswith("learned: 4 recoveries in 15.0 instance-hours over 2 run(s)")
    assert plan.chosen.preemption_rate_high >= 1.39  # the table's range is kept around a learned rate
    stated = optimize(spec, prices, spot="spot", corrections=learned, preemption_rate_per_hour=0.01)
    assert stated.chosen.preemption_rate_per_hour == 0.01  # --preemption-rate still wins
