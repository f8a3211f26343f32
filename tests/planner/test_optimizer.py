"""optimize(): quotes for every offer that fits, hours and cost from stated terms, Pareto set, infeasible reasons
with hints that really fit, budget and deadline. Small hand-made price tables isolate each rule; the shipped
tables check the whole thing end to end."""

import csv
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from tunecost.planner.corrections import Correction, Corrections
from tunecost.planner.errors import UserError
from tunecost.planner.model.memory import estimate_memory
from tunecost.planner.market.offers import OFFER_COLUMNS, PriceTables, load_prices
from tunecost.planner.optimizer import optimize
from tunecost.planner.plan import Plan
from tunecost.planner.pareto import pareto_mask
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import DatasetSize, Method, Parallelism, TrainSpec

RUNS = Path(__file__).parents[1] / "data" / "published_runs.csv"
NAN = float("nan")


def offer(provider, gpu, count, mem, price, spot=NAN, region="r1", zone="", instance=None, flag=""):
    return dict(provider=provider, region=region, zone=zone, instance_type=instance or f"{gpu}x{count}", gpu=gpu,
                gpu_count=count, gpu_memory_gib=mem, vcpus=8, memory_gib=64, price_per_hour=price,
                spot_price_per_hour=spot, as_of="2026-11-01", source="test table", flag=flag)


def tables(*rows) -> PriceTables:
    return PriceTables(offers=pd.DataFrame(list(rows), columns=OFFER_COLUMNS), as_of="2026-11-01")


def spec(**kw) -> TrainSpec:
    base = dict(model="meta-llama/Llama-3.1-8B", dataset=DatasetSize(tokens_per_epoch=20_000_000))
    return TrainSpec(**{**base, **kw})


MIXED = tables(
    offer("lambda", "A10", 1, 24.0, 0.75),
    offer("aws", "A10G", 1, 22.35, 1.01, spot=0.45),
    offer("runpod", "A100-80GB", 1, 80.0, 1.64, spot=1.19),
    offer("lambda", "H100", 8, 80.0, 23.92),
    offer("gcp", "L4", 1, 22.35, 0.71, spot=0.28),
)


def test_every_fitting_offer_is_quoted_ranked_by_cost_and_cost_is_hours_times_price():
    plan = optimize(spec(), MIXED)
    assert [q.cost for q in plan.quotes] == sorted(q.cost for q in plan.quotes)
    assert plan.chosen == plan.quotes[0]
    # 5 on-demand + 3 spot; QLoRA 8B fits all of them, and the 8-GPU instance is priced over 2, 4 and 8 nodes too
    assert len(plan.quotes) == 11
    assert sorted(q.offer.nodes for q in plan.quotes if q.offer.gpu == "H100") == [1, 2, 4, 8]
    for q in plan.quotes:
        assert q.cost == pytest.approx(q.hours * q.offer.total_per_hour)
        assert q.hours == pytest.approx(sum(q.hours_breakdown.values()), rel=1e-3)
        loop = sum(q.hours_breakdown[k] for k in ("compute", "step_overhead", "communication"))
        assert loop == pytest.approx(20_000_000 / q.tokens_per_sec / 3600, rel=1e-3)
        assert q.peak_gib_per_gpu <= 0.9 * q.offer.gpu_memory_gib
    h100 = next(q for q in plan.quotes if q.offer.gpu == "H100" and q.offer.nodes == 1)
    assert (h100.offer.gpu_count, h100.parallelism) == (8, "ddp")  # the 8B QLoRA replica fits: DDP, not FSDP
    assert plan.infeasible == []


def test_spot_rework_follows_the_stated_preemption_rate_and_daly_s_model():
    """--preemption-rate replaces the table; the re-work is Daly's expected time (restart + lost work) at the
    Young/Daly interval, twice the rate costs more than twice nothing, and on demand only failures cost time."""
    one = optimize(spec(), MIXED, gpus=["L4"], preemption_rate_per_hour=0.05)
    two = optimize(spec(), MIXED, gpus=["L4"], preemption_rate_per_hour=0.10)
    spot1, spot2 = (next(q for q in p.quotes if q.offer.spot) for p in (one, two))
    on_demand = next(q for q in one.quotes if not q.offer.spot)
    assert on_demand.preemption_rate_per_hour == pytest.approx(1.97e-5) and "Llama 3" in on_demand.preemption_source
    assert on_demand.hours_breakdown["rework"] < 1e-3 * on_demand.hours
    assert (spot1.preemption_rate_per_hour, spot1.preemption_source) == (0.05, "--preemption-rate")
    p = spot1.hours_breakdown
    work = p["compute"] + p["step_overhead"] + p["communication"]
    restart = p["provisioning"] + p["setup"] + p["model_download"]
    tau, c = spot1.checkpoint_interval_hours, spot1.checkpoint_write_hours
    assert tau == pytest.approx(math.sqrt(2 * c / 0.05), rel=0.05)  # Young's first order
    n = math.ceil(work / tau)
    m = 1 / 0.05
    expected = (n - 1) * m * math.exp(restart / m) * math.expm1((work / n + c) / m) + \
        m * math.exp(restart / m) * math.expm1(work / n / m)
    assert p["checkpoints"] == pytest.approx((n - 1) * c, rel=1e-3)
    assert work + p["checkpoints"] + p["rework"] == pytest.approx(expected, rel=1e-4)
    assert spot2.hours_breakdown["rework"] > 1.5 * p["rework"]  # the interval shortens as the rate grows
    assert spot1.pessimistic_hours == pytest.approx(spot1.hours)  # a stated rate has no range
    assert any("preemption" in a for a in one.assumptions)


def test_spot_rates_come_from_the_table_per_instance_class_with_a_range():
    prices = tables(offer("aws", "H100", 1, 80.0, 4.0, spot=1.5), offer("aws", "H100", 8, 80.0, 30.0, spot=12.0))
    plan = optimize(spec(), prices, spot="spot", max_nodes=2)
    one = next(q for q in plan.quotes if q.offer.gpu_count == 1)
    eight = next(q for q in plan.quotes if q.offer.gpu_count == 8 and q.offer.nodes == 1)
    two_nodes = next(q for q in plan.quotes if q.offer.nodes == 2)
    assert (one.preemption_rate_low, one.preemption_rate_per_hour, one.preemption_rate_high) == (0.095, 0.306, 1.39)
    assert eight.preemption_rate_per_hour == 0.962 and "8-GPU" in eight.preemption_source
    assert two_nodes.preemption_rate_per_hour == pytest.approx(2 * 0.962)  # one preemption stops both nodes
    for q in (one, eight, two_nodes):
        assert q.pessimistic_hours > q.hours and q.pessimistic_cost == pytest.approx(q.pessimistic_hours *
                                                                                    q.offer.total_per_hour)
    data = plan.model_dump(mode="json")["chosen"]
    assert data["preemption_rate_per_hour"] > 0 and "spot-traces" in data["preemption_source"]


def test_fixed_overheads_are_billed_and_model_download_follows_model_size():
    small = optimize(spec(model="HuggingFaceTB/SmolLM2-135M"), MIXED, gpus=["L4"], spot="on-demand")
    big = optimize(spec(), MIXED, gpus=["L4"], spot="on-demand")
    s, b = small.chosen.hours_breakdown, big.chosen.hours_breakdown
    assert s["provisioning"] > 0 and s["setup"] > 0
    ratio = resolve_shape(spec()).total_params() / resolve_shape(spec(model="HuggingFaceTB/SmolLM2-135M")).total_params()
    assert b["model_download"] / s["model_download"] == pytest.approx(ratio, rel=0.01)


def test_one_row_per_provider_gpu_count_spot_keeps_the_cheapest_region():
    prices = tables(offer("aws", "L4", 1, 22.35, 0.90, region="us-east-1", zone="use1-az1"),
                    offer("aws", "L4", 1, 22.35, 0.80, region="eu-west-1", zone="euw1-az2", instance="g6.xlarge"),
                    offer("aws", "L4", 1, 22.35, 0.85, region="us-west-2", instance="g6.2xlarge"))
    plan = optimize(spec(), prices)
    assert len(plan.quotes) == 1
    assert (plan.chosen.offer.region, plan.chosen.offer.zone, plan.chosen.offer.total_per_hour) == ("eu-west-1", "euw1-az2", 0.80)


def test_flagged_offers_are_skipped_and_filters_apply():
    prices = tables(offer("gcp", "H100", 1, 80.0, 0.10, flag="spot above on-demand"),
                    offer("gcp", "L4", 1, 22.35, 0.71, spot=0.28))
    plan = optimize(spec(), prices)
    assert {q.offer.gpu for q in plan.quotes} == {"L4"}
    assert [q.offer.spot for q in optimize(spec(), prices, spot="on-demand").quotes] == [False]
    assert [q.offer.spot for q in optimize(spec(), prices, spot="spot").quotes] == [True]
    with pytest.raises(UserError, match="--providers: no offers for azure"):
        optimize(spec(), prices, providers=["azure"])


def test_non_nvidia_gpus_only_when_named():
    prices = tables(offer("runpod", "MI300X", 1, 192.0, 0.50), offer("gcp", "L4", 1, 22.35, 0.71))
    plan = optimize(spec(), prices)
    assert {q.offer.gpu for q in plan.quotes} == {"L4"}
    assert any("non-NVIDIA GPUs (MI300X)" in w for w in plan.warnings)
    assert {q.offer.gpu for q in optimize(spec(), prices, gpus=["MI300X"]).quotes} == {"MI300X"}


def test_too_big_to_replicate_uses_fsdp_and_peak_matches_torchtune_TT31_07_70b_lora_8xA100():
    """TT31-07: Llama-3.1-70B LoRA r16 q,k,v, packed 2048, batch 2, 8 x A100 FSDP: 27.6 GiB per GPU.
    (Its 3497 tokens/s per GPU would need ~1.5 PFLOP/s per A100 at 6N FLOPs/token, so speed is not checked here.)"""
    row = next(r for r in csv.DictReader(RUNS.open()) if r["row_id"] == "TT31-07")
    s = TrainSpec(model="meta-llama/Llama-3.1-70B", method=Method.lora, rank=int(row["lora_rank"]), seq_len=2048,
                  micro_batch=int(row["micro_batch_size"]), targets=row["target_modules"])
    plan = optimize(s, tables(offer("lambda", "A100-80GB", 8, 80.0, 14.32)))
    q = plan.chosen
    assert (q.offer.gpu_count, q.parallelism) == (8, "fsdp")  # 140 GB of bf16 weights cannot be replicated (DDP)
    assert q.peak_gib_per_gpu == pytest.approx(float(row["peak_vram_gb"]), rel=0.35)
    assert q.tokens_per_sec == pytest.approx(8 * plan.speed.tokens_per_sec_per_gpu)
    assert any("FSDP" in a for a in plan.assumptions)


def test_infeasible_reason_and_hint_that_really_fits():
    full = spec(method=Method.full, optimizer="adamw")
    plan = optimize(full, MIXED)
    a10g = next(i for i in plan.infeasible if i.gpu == "A10G")
    assert re.match(r"needs [\d.]+ GiB \([\d.]+-[\d.]+\) per GPU; A10G has 22.4 GiB \(90% usable\)$", a10g.reason)
    assert a10g.needs_gib > 0.9 * a10g.has_gib
    method = Method(re.search(r"fits on 1x A10G with --method ([a-z-]+)", a10g.hint).group(1))
    shape = resolve_shape(full)
    changed = estimate_memory(full.model_copy(update={"method": method}), shape)
    assert changed.peak_gib <= 0.9 * 22.35  # the hint was checked against the memory model, not guessed
    assert estimate_memory(full, shape).peak_gib > 0.9 * 22.35


def test_hint_counts_gpus_with_fsdp_when_method_is_already_qlora():
    s = TrainSpec(model="meta-llama/Llama-3.1-70B", method=Method.qlora, seq_len=2048)
    plan = optimize(s, tables(offer("x", "L4", 1, 22.35, 0.7), offer("y", "A100-80GB", 1, 80.0, 1.6)))
    l4 = next(i for i in plan.infeasible if i.gpu == "L4")
    count = int(re.search(r"on (\d+)x L4 with FSDP", l4.hint).group(1))
    shape = resolve_shape(s)
    # the fit is judged by the memory band's upper edge (planner/model/bands.py)
    assert estimate_memory(s, shape, gpu_count=count, parallelism=Parallelism.fsdp).band_gib[1] <= 0.9 * 22.35
    assert estimate_memory(s, shape, gpu_count=count // 2, parallelism=Parallelism.fsdp).band_gib[1] > 0.9 * 22.35


def test_nothing_fits_names_the_peak_and_the_largest_gpu():
    s = spec(model="meta-llama/Llama-3.1-70B", method=Method.full)
    with pytest.raises(UserError, match=r"^nothing fits: needs [\d.]+ GiB \(.*\) per GPU.*A100-80GB has 80.0 GiB") as info:
        optimize(s, tables(offer("x", "L4", 1, 22.35, 0.7), offer("y", "A100-80GB", 1, 80.0, 1.6)))
    assert "fits on" in str(info.value) or "nothing tried fits" in str(info.value)


def test_pareto_mask_marks_exactly_the_undominated_points():
    points = [(1.0, 10.0), (2.0, 5.0), (3.0, 6.0), (4.0, 1.0), (2.0, 5.0), (5.0, 1.0)]
    assert pareto_mask(points) == [True, True, False, True, True, False]


def test_plan_pareto_set_is_undominated_and_covers_the_rest():
    plan = optimize(spec(), MIXED)
    front = [q for q in plan.quotes if q.pareto]
    assert plan.chosen.pareto and front
    for q in plan.quotes:
        dominated = any(p.cost <= q.cost and p.hours <= q.hours and (p.cost, p.hours) != (q.cost, q.hours)
                        for p in plan.quotes)
        assert q.pareto is not dominated


def test_budget_too_small_is_one_clear_line():
    cheapest = optimize(spec(), MIXED).chosen
    with pytest.raises(UserError, match=r"^cheapest feasible offer costs \$[\d.,]+ \(Google Cloud L4x1 \(L4 x1, spot, r1\)\), over the "
                                         r"budget of \$0\.01") as info:
        optimize(spec(), MIXED, budget=0.01)
    assert f"${cheapest.cost:,.2f}" in str(info.value)
    within = optimize(spec(), MIXED, budget=cheapest.cost + 0.01)
    assert within.chosen == cheapest and all(q.cost <= cheapest.cost + 0.01 for q in within.quotes)
    assert any("over --budget" in w for w in within.warnings)


def test_deadline_keeps_only_fast_enough_quotes_or_names_the_fastest():
    plan = optimize(spec(), MIXED)
    fastest = min(plan.quotes, key=lambda q: q.worst_hours)
    deadline = (plan.chosen.worst_hours + fastest.worst_hours) / 2
    quick = optimize(spec(), MIXED, deadline_hours=deadline)
    assert quick.chosen.worst_hours <= deadline and all(q.worst_hours <= deadline for q in quick.quotes)
    assert quick.chosen.cost == min(q.cost for q in plan.quotes if q.worst_hours <= deadline)
    total = fastest.offer.gpu_count * fastest.offer.nodes
    with pytest.raises(UserError, match=rf"fastest is Lambda \S+ \(H100 x{fastest.offer.gpu_count}\S*( x{fastest.offer.nodes} nodes)?, \S+, \S+\) at {fastest.worst_hours:.2f} h"):
        optimize(spec(), MIXED, deadline_hours=fastest.worst_hours / 2)


def test_spot_or_on_demand_is_chosen_by_expected_cost_not_the_pessimistic_one():
    prices = tables(offer("gcp", "L4", 1, 22.35, 0.71, spot=0.55))
    plan = optimize(spec(), prices)
    spot = next(q for q in plan.quotes if q.offer.spot)
    on_demand = next(q for q in plan.quotes if not q.offer.spot)
    assert spot.cost < on_demand.cost < spot.pessimistic_cost  # cheaper expected, dearer at the high rate
    assert plan.chosen is spot or plan.chosen == spot


def test_deadline_uses_the_pessimistic_hours_of_spot_quotes():
    """A spot quote whose expected hours meet the deadline but whose high-rate hours do not is left out."""
    prices = tables(offer("gcp", "L4", 1, 22.35, 0.71, spot=0.28))
    spot = next(q for q in optimize(spec(), prices).quotes if q.offer.spot)
    on_demand = next(q for q in optimize(spec(), prices).quotes if not q.offer.spot)
    assert spot.cost < on_demand.cost and on_demand.hours < spot.hours < spot.pessimistic_hours
    deadline = (spot.hours + spot.pessimistic_hours) / 2  # spot's expected hours make it, its high-rate ones not
    plan = optimize(spec(), prices, deadline_hours=deadline)
    assert not plan.chosen.offer.spot and all(not q.offer.spot for q in plan.quotes)
    assert optimize(spec(), prices, deadline_hours=spot.pessimistic_hours * 1.01).chosen.offer.spot


def test_shipped_tables_end_to_end_and_plan_json_round_trips(tmp_path):
    plan = optimize(spec(), load_prices(home=tmp_path), top_k=10_000)
    assert plan.chosen is not None and len(plan.quotes) > 10
    assert len(optimize(spec(), load_prices(home=tmp_path), top_k=5).quotes) < len(plan.quotes)
    providers = {q.offer.provider for q in plan.quotes}
    assert {"aws", "gcp", "runpod", "lambda"} <= providers
    assert all(not math.isnan(q.cost) and q.cost > 0 for q in plan.quotes)
    again = Plan.model_validate_json(plan.model_dump_json())
    assert again == plan
    data = plan.model_dump(mode="json")
    assert data["spec"]["method"] == "qlora" and data["spec"]["dataset"]["tokens_per_epoch"] == 20_000_000
    assert set(data["chosen"]["hours_breakdown"]) == {"compute", "step_overhead", "communication", "provisioning",
                                                     "setup", "model_download", "checkpoints", "rework"}
    assert data["memory"]["peak_gib"] == pytest.approx(plan.chosen.peak_gib_per_gpu, abs=0.01)


def test_several_8_gpu_nodes_from_the_fewest_that_hold_the_job_within_max_nodes():
    s = TrainSpec(model="meta-llama/Llama-3.1-405B", method=Method.lora, dataset=DatasetSize(tokens_per_epoch=10**7))
    prices = tables(offer("aws", "H100", 8, 80.0, 98.32, spot=40.0), offer("gcp", "A100-80GB", 1, 80.0, 3.7))
    with pytest.raises(UserError, match="nothing fits"):
        optimize(s, prices, max_nodes=1)  # 8 GPUs are not enough for 405B LoRA in bf16
    plan = optimize(s, prices)  # by default up to 8 nodes: 64 GPUs
    fewest = min(q.offer.nodes for q in plan.quotes)
    total = 8 * fewest
    shape = resolve_shape(s)
    assert estimate_memory(s, shape, gpu_count=total, parallelism=Parallelism.fsdp).peak_gib <= 0.9 * 80
    assert estimate_memory(s, shape, gpu_count=total - 8, parallelism=Parallelism.fsdp).peak_gib > 0.9 * 80
    assert sorted({q.offer.nodes for q in plan.quotes}) == [n for n in (fewest, 2 * fewest, 4 * fewest) if n <= 8]
    for q in plan.quotes:
        assert q.offer.gpu == "H100" and q.offer.gpu_count == 8 and q.parallelism == "fsdp"
        assert q.offer.total_per_hour == pytest.approx(q.offer.nodes * (40.0 if q.offer.spot else 98.32))
    # 1-GPU instances are not scaled out, though 32 of them would hold it with FSDP
    assert estimate_memory(s, shape, gpu_count=32, parallelism=Parallelism.fsdp).peak_gib <= 0.9 * 80
    assert [x.gpu for x in plan.infeasible] == ["A100-80GB"]


def test_a_much_faster_multi_node_option_is_named_when_not_chosen():
    prices = tables(offer("lambda", "H100", 8, 80.0, 23.92))
    plan = optimize(spec(tokens_per_epoch=None, dataset=DatasetSize(tokens_per_epoch=2_000_000_000)), prices)
    assert plan.chosen.offer.nodes == 1  # one node is the cheapest ...
    four = next(q for q in plan.quotes if q.offer.nodes == 4)
    assert four.hours * 2 <= plan.chosen.hours and four.cost <= 1.5 * plan.chosen.cost  # ... four much faster
    assert plan.multi_node.startswith("multi-node option: Lambda H100x8 (H100 x8 x4 nodes, on-demand, r1) in ")
    assert optimize(spec(), prices, max_nodes=1).multi_node == ""


def _learned(**factors) -> Corrections:
    return Corrections(factors=[Correction(gpu="L4", method="qlora", runs=3, run_ids=["r1", "r2", "r3"],
                                           **factors)])


def test_learned_factors_scale_the_hours_and_peak_of_that_gpu_only_and_are_stated():
    plain = optimize(spec(), MIXED)
    learned = optimize(spec(), MIXED, corrections=_learned(hours_factor=1.5, memory_factor=1.1))
    key = lambda q: (q.offer.provider, q.offer.instance_type, q.offer.spot, q.offer.nodes)  # noqa: E731
    before = {key(q): q for q in plain.quotes}
    assert {key(q) for q in learned.quotes} == set(before)
    for q in learned.quotes:
        b = before[key(q)]
        if q.offer.gpu == "L4":
            assert q.hours == pytest.approx(1.5 * b.hours) and q.cost == pytest.approx(1.5 * b.cost)
            assert q.peak_gib_per_gpu == pytest.approx(1.1 * b.peak_gib_per_gpu, abs=0.01)
            assert q.hours == pytest.approx(sum(q.hours_breakdown.values()), rel=1e-5)
            assert q.hours_breakdown["learned_correction"] == pytest.approx(0.5 * b.hours, rel=1e-5)
            assert q.corrections == pytest.approx({"hours": 1.5, "memory": 1.1})
        else:
            assert (q.hours, q.peak_gib_per_gpu, q.corrections) == (b.hours, b.peak_gib_per_gpu, {})
    notes = [a for a in learned.assumptions if "tunecost calibrate" in a]
    assert notes == ["peak memory x1.100 for L4 qlora, learned from 3 finished runs (tunecost calibrate)",
                     "hours x1.500 for L4 qlora, learned from 3 finished runs (tunecost calibrate)"]
    assert not any("tunecost calibrate" in a for a in plain.assumptions)
    assert optimize(spec(), MIXED, corrections=Corrections()).quotes == plain.quotes


def test_a_learned_memory_factor_decides_the_fit():
    s = spec()
    peak = estimate_memory(s, resolve_shape(s)).peak_gib
    factor = 0.9 * 22.35 / peak * 1.05  # 5% past the L4's usable memory once corrected
    plan = optimize(s, MIXED, corrections=_learned(memory_factor=factor))
    assert "L4" not in {q.offer.gpu for q in plan.quotes}
    l4 = next(i for i in plan.infeasible if i.gpu == "L4")
    assert l4.needs_gib == pytest.approx(peak * factor, abs=0.01)
    assert f"x{factor:.3f} learned" in l4.reason
    assert plan.memory.peak_gib == pytest.approx(plan.chosen.peak_gib_per_gpu, abs=0.01)  # chosen: not an L4


def test_offers_skypilot_cannot_launch_are_priced_and_marked_but_never_chosen():
    """lium is the cheapest here, but SkyPilot 0.14.1 has no lium cloud (pricing_data/providers.csv)."""
    plan = optimize(spec(method=Method.qlora), tables(offer("lium", "A100-80GB", 1, 80.0, 0.50),
                                                      offer("runpod", "A100-80GB", 1, 80.0, 1.64)))
    lium = next(q for q in plan.quotes if q.offer.provider == "lium")
    assert plan.quotes[0] is lium and not lium.launchable and "no lium cloud" in lium.not_launchable_why
    assert plan.chosen.offer.provider == "runpod" and plan.chosen.launchable
    assert any("cheaper offer not chosen: SkyPilot cannot launch it" in w for w in plan.warnings)


def test_with_only_unlaunchable_offers_nothing_is_chosen_and_a_line_says_why():
    plan = optimize(spec(method=Method.qlora), tables(offer("lium", "A100-80GB", 1, 80.0, 0.50)))
    assert plan.chosen is None and plan.quotes and plan.speed is not None  # still priced and explained
    assert any("no offer SkyPilot can launch fits" in w for w in plan.warnings)


def test_spot_where_skypilot_has_no_spot_is_not_launchable():
    """SkyPilot 0.14.1 launches daytona not at all and lambda on demand only: a spot price there is for comparison."""
    plan = optimize(spec(method=Method.qlora), tables(offer("lambda", "A100-80GB", 1, 80.0, 2.0, spot=0.4),
                                                      offer("aws", "A100-80GB", 8, 80.0, 40.0)), spot="any")
    lambda_spot = next(q for q in plan.quotes if q.offer.provider == "lambda" and q.offer.spot)
    assert not lambda_spot.launchable and "cannot launch spot on lambda" in lambda_spot.not_launchable_why
    assert (plan.chosen.offer.provider, plan.chosen.offer.spot) == ("lambda", False)


def test_a_chosen_gpu_with_an_assumed_speed_gets_a_warning_line():
    plan = optimize(spec(method=Method.qlora), tables(offer("runpod", "RTX4000-Ada", 4, 20.0, 0.4)))
    assert plan.chosen.speed_assumed and "RTX4000-Ada" in plan.chosen.speed_assumed
    assert any(w.startswith("the chosen RTX4000-Ada's speed is assumed") for w in plan.warnings)


@pytest.mark.parametrize("typed", ["meta-llama/Llama-3.1-8b", "META-LLAMA/llama-3.1-8B", "llama-3.1-8b"])
def test_a_model_id_in_another_case_is_saved_in_the_catalogs_spelling_with_one_line(typed):
    plan = optimize(spec(model=typed), tables(offer("runpod", "A100-80GB", 1, 80.0, 1.64)))
    assert plan.spec.model == "meta-llama/Llama-3.1-8B"
    assert sum(f"--model {typed}: using the catalog's spelling meta-llama/Llama-3.1-8B" in w
               for w in plan.warnings) == 1


def test_a_catalog_spelling_or_an_alias_is_left_as_typed():
    for typed in ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct"):
        plan = optimize(spec(model=typed), tables(offer("runpod", "A100-80GB", 1, 80.0, 1.64)))
        assert plan.spec.model == typed and not any("catalog's spelling" in w for w in plan.warnings)


def test_an_assumed_dataset_size_is_one_warning_line():
    plan = optimize(TrainSpec(model="meta-llama/Llama-3.1-8B"), tables(offer("runpod", "A100-80GB", 1, 80.0, 1.64)))
    assert [w for w in plan.warnings if "no dataset size given" in w] == [
        "no dataset size given: priced for an assumed 10,000,000 tokens per epoch; give --dataset FILE, --tokens N "
        "or --examples/--avg-tokens"]
    assert not any("no dataset size" in w for w in optimize(spec(), tables(offer("runpod", "A100-80GB", 1, 80.0,
                                                                                 1.64))).warnings)
