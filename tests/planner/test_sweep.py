"""Sweeps in the planner: the grid from flags and YAML (bad input one line each), each point estimated on its own
(rank moves memory, learning rate moves nothing), priced on one shared offer or per point, the budget on the total."""

import pandas as pd
import pytest

from tunecost.planner.errors import UserError
from tunecost.planner.market.offers import OFFER_COLUMNS, PriceTables
from tunecost.planner.optimizer import optimize
from tunecost.planner.spec import DatasetSize, TrainSpec
from tunecost.planner.sweep import price_sweep
from tunecost.planner.sweep_grid import MAX_POINTS, expand, parse_sweep_flags, read_sweep_file, sweep_axes


def offer(provider, gpu, count, mem, price, spot=float("nan")):
    return dict(provider=provider, region="r1", zone="", instance_type=f"{gpu}x{count}", gpu=gpu, gpu_count=count,
                gpu_memory_gib=mem, vcpus=8, memory_gib=64, price_per_hour=price, spot_price_per_hour=spot,
                as_of="2026-11-01", source="test table", flag="")


# An L4 fits seq 1024 cheaply but not seq 32768; an A100 fits both.
TABLES = PriceTables(offers=pd.DataFrame([offer("gcp", "L4", 1, 22.35, 0.30), offer("runpod", "A100-80GB", 1, 80.0, 1.64)],
                                         columns=OFFER_COLUMNS), as_of="2026-11-01")


def spec(**kw):
    return TrainSpec(**{"model": "meta-llama/Llama-3.1-8B", "dataset": DatasetSize(tokens_per_epoch=5_000_000), **kw})


def test_flags_build_the_grid_first_axis_slowest():
    axes = parse_sweep_flags(["rank=8,16,32", "learning-rate=1e-4,2e-4"])
    assert axes == {"rank": [8, 16, 32], "learning-rate": [1e-4, 2e-4]}
    points = expand(axes)
    assert len(points) == 6 and points[0] == {"rank": 8, "learning-rate": 1e-4} and points[1]["rank"] == 8


def test_yaml_file_takes_lists_and_target_lists(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("rank: [8, 16]\ntargets: [[q_proj, v_proj], all-linear]\nepochs: 2\n")
    assert read_sweep_file(path) == {"rank": [8, 16], "targets": ["q_proj,v_proj", "all-linear"], "epochs": [2.0]}


@pytest.mark.parametrize("flags, says", [
    (["ranks=8,16"], "unknown sweep key 'ranks' (known: rank, alpha"),
    (["rank="], "no values for rank"),
    (["rank"], "expected KEY=V1,V2"),
    (["rank=8,x"], "rank value 'x' is not valid (give whole numbers"),
    (["rank=0"], "rank value '0' is not valid"),
    (["learning-rate=-1e-4"], "learning-rate value '-1e-4' is not valid"),
    (["rank=8", "rank=16"], "rank is swept twice"),
    (["rank=" + ",".join(map(str, range(1, 17))), "batch=" + ",".join(map(str, range(1, 18)))],
     f"16 rank x 17 batch is 272 points, over the limit of {MAX_POINTS}"),
])
def test_bad_sweep_flags_are_one_line(flags, says):
    with pytest.raises(UserError) as err:
        sweep_axes(flags, None)
    assert says in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text, says", [("rank: []\n", "no values for rank"), ("- 8\n", "expected a mapping"),
                                        ("rank: [8\n", "not valid YAML"), ("lr: [1]\n", "unknown sweep key 'lr'")])
def test_bad_sweep_files_are_one_line(tmp_path, text, says):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=says.replace("[", r"\[")):
        sweep_axes(None, path)


def _points(**axes):
    return [(p, spec(**{k.replace("-", "_"): v for k, v in p.items() if k != "learning-rate"})) for p in expand(axes)]


def test_rank_moves_memory_learning_rate_moves_nothing_and_the_total_is_the_sum():
    plan = price_sweep(_points(rank=[8, 64], **{"learning-rate": [1e-4, 2e-4]}), TABLES)
    points = plan.sweep.points
    assert points[0].quote.peak_gib_per_gpu == points[1].quote.peak_gib_per_gpu  # lr: same estimate
    assert points[0].quote.cost == points[1].quote.cost
    assert points[2].quote.peak_gib_per_gpu > points[0].quote.peak_gib_per_gpu  # rank 64 > rank 8
    assert [p.job for p in points] == [{"learning_rate": 1e-4}, {"learning_rate": 2e-4}] * 2
    assert plan.sweep.total_cost == pytest.approx(sum(p.quote.cost for p in points))
    assert plan.chosen == points[0].quote and plan.spec == points[0].spec


def test_one_offer_fits_every_point_each_takes_the_cheapest_per_point():
    points = _points(**{"seq-len": [1024, 32768]})
    one = price_sweep(points, TABLES).sweep
    assert {p.quote.offer.gpu for p in one.points} == {"A100-80GB"} and "RunPod" in one.offer
    each = price_sweep(points, TABLES, offers="each").sweep
    assert [p.quote.offer.gpu for p in each.points] == ["L4", "A100-80GB"]
    for p in each.points:
        assert p.quote.cost == pytest.approx(optimize(p.spec, TABLES).chosen.cost)
    assert each.total_cost < one.total_cost


def test_the_shared_offer_is_one_node_count_of_an_8_gpu_instance():
    """An 8-GPU instance is quoted over 1, 2, 4 and 8 nodes; the sweep shares the cheapest node count, not whichever
    quote of that instance came last."""
    tables = PriceTables(offers=pd.DataFrame([offer("lambda", "H100", 8, 80.0, 23.92)], columns=OFFER_COLUMNS),
                         as_of="2026-11-01")
    one = price_sweep(_points(rank=[8, 16]), tables).sweep
    cheapest = optimize(one.points[0].spec, tables).chosen
    assert {p.quote.offer.nodes for p in one.points} == {cheapest.offer.nodes} == {1}
    assert one.points[0].quote.cost == pytest.approx(cheapest.cost)


def test_budget_applies_to_the_total_not_each_point():
    points = _points(rank=[8, 16, 32])
    total = price_sweep(points, TABLES).sweep.total_cost
    dearest = max(p.quote.cost for p in price_sweep(points, TABLES).sweep.points)
    with pytest.raises(UserError, match=r"the sweep's 3 points cost \$[\d.]+ in total, over the budget"):
        price_sweep(points, TABLES, budget=(total + dearest) / 2 if total / 2 > dearest else total * 0.9)
    assert price_sweep(points, TABLES, budget=total * 1.01).sweep.total_cost == total


def test_a_point_that_fits_nothing_fails_the_whole_sweep_in_one_line():
    only_l4 = PriceTables(offers=TABLES.offers.iloc[:1], as_of="2026-11-01")
    with pytest.raises(UserError, match="nothing fits"):
        price_sweep(_points(**{"seq-len": [1024, 131072]}), only_l4)


def test_no_axes_is_no_sweep():
    assert expand({}) == [] and sweep_axes(None, None) == {}


@pytest.mark.parametrize("offers", ["one", "each"])
def test_a_sweep_never_runs_on_an_offer_skypilot_cannot_launch(offers):
    """lium is the cheapest for every point, but SkyPilot 0.14.1 has no lium cloud: no point's offers include it."""
    tables = PriceTables(offers=pd.DataFrame([offer("lium", "A100-80GB", 1, 80.0, 0.50),
                                              offer("runpod", "A100-80GB", 1, 80.0, 1.64),
                                              offer("gcp", "L4", 1, 22.35, 0.90)], columns=OFFER_COLUMNS),
                         as_of="2026-11-01")
    points = [({"rank": r}, spec(rank=r)) for r in (8, 16)]
    plan = price_sweep(points, tables, offers=offers)
    assert all(q.offer.provider != "lium" for p in plan.sweep.points for q in p.quotes)
    assert plan.chosen.offer.provider != "lium"
