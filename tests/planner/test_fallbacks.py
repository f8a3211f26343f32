"""The fallback order spans another provider or region whenever one is within the cost tolerance, and says why
each offer is there (the task YAML's comment). The planner picks it and the plan carries it: `launch --top N`
takes its first N, which are the N that picking N would give."""

from __future__ import annotations

import pytest

from tunecost.planner.errors import UserError
from tunecost.planner.fallbacks import FALLBACKS_KEPT, fallback_order, limit, plan_fallbacks
from tunecost.planner.market.offers import load_prices
from tunecost.planner.optimizer import optimize
from tunecost.planner.plan import Plan
from tunecost.planner.spec import DatasetSize, TrainSpec

from ..launcher.conftest import plan, quote


def _where(order) -> list[tuple]:
    return [(f.quote.offer.provider, f.quote.offer.region, f.quote.offer.instance_type) for f in order]


def test_one_zone_cheapest_three_still_get_another_provider_within_tolerance():
    zone = dict(provider="primeintellect", region="FI", zone="FIN-01")
    quotes = [quote(**zone, instance_type="a", price=1.00), quote(**zone, instance_type="b", price=1.05),
              quote(**zone, instance_type="c", price=1.10), quote(provider="runpod", region="CA", price=1.20),
              quote(provider="lambda", region="us-east-1", price=2.00)]
    order = plan(quotes).fallback_order(3)
    assert _where(order) == [("primeintellect", "FI", "a"), ("primeintellect", "FI", "b"), ("runpod", "CA",
                                                                                           "1x_A100-80GB_SECURE")]
    assert order[0].reason.startswith("the plan's choice")
    assert order[1].reason.startswith("next cheapest (+5%")
    assert order[2].reason.startswith("another provider") and "+20%" in order[2].reason


def test_another_region_of_the_same_provider_when_no_other_provider_is_close():
    quotes = [quote(region="US", instance_type="a", price=1.0), quote(region="US", instance_type="b", price=1.01),
              quote(region="EU", instance_type="c", price=1.2), quote(provider="lambda", price=2.0)]
    order = plan(quotes).fallback_order(3)
    assert [f.quote.offer.region for f in order] == ["US", "US", "EU"]
    assert order[2].reason.startswith("another region")


def test_nothing_elsewhere_within_tolerance_is_said():
    quotes = [quote(instance_type="a", price=1.0), quote(instance_type="b", price=1.1),
              quote(provider="lambda", region="x", price=2.0)]  # $4.00 for 2 h: over $2.00 + $1
    order = plan(quotes).fallback_order(2)
    assert _where(order)[1][2] == "b" and "no other provider or region within 25% or $1" in order[1].reason


def test_the_8b_qlora_plan_on_the_shipped_prices_spans_two_providers_or_regions():
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method="qlora",
                     dataset=DatasetSize(tokens_per_epoch=30_000_000, source="given"))
    data = optimize(spec, load_prices())
    order = data.fallback_order(3)
    assert len({(f.quote.offer.provider, f.quote.offer.region) for f in order}) >= 2, _where(order)
    assert all(f.quote.cost <= limit(order[0].quote.cost) for f in order)


def test_offers_skypilot_cannot_launch_never_enter_the_order():
    quotes = [quote(provider="runpod", price=1.0), quote(provider="lium", region="JP", price=1.01),
              quote(provider="daytona", region="US", price=1.02), quote(provider="lambda", region="us-east-1",
                                                                        spot=False, price=1.05)]
    order = plan(quotes).fallback_order(3)
    assert [f.quote.offer.provider for f in order] == ["runpod", "lambda"]


def test_a_plan_whose_chosen_offer_cannot_be_launched_is_one_clear_line():
    """A plan edited (or saved by an older tunecost) may have chosen lium: it carries no fallback order, and launch
    says why from the provider table."""
    with pytest.raises(UserError, match=r"Lium 1x_A100-80GB_SECURE \(RTX5090 x8, on-demand, JP\) cannot be launched: "
                       r"SkyPilot 0.14.1 has no lium cloud"):
        plan([quote(provider="lium", region="JP", gpu="RTX5090", gpu_count=8, spot=False)]).fallback_order(3)


@pytest.fixture(scope="module")
def plan_8b() -> Plan:
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method="qlora",
                     dataset=DatasetSize(tokens_per_epoch=30_000_000, source="given"))
    return optimize(spec, load_prices(), top_k=40)


def test_the_first_n_the_plan_keeps_are_the_n_picking_n_gives(plan_8b):
    """`launch --top N` reads the plan's order; it equals the order picked for N alone, for every N."""
    assert len(plan_8b.fallbacks) == FALLBACKS_KEPT
    for n in range(1, FALLBACKS_KEPT + 1):
        alone = fallback_order(plan_fallbacks(plan_8b.chosen, plan_8b.quotes, keep=n), plan_8b.chosen, n)
        assert plan_8b.fallback_order(n) == alone, n


def test_the_saved_plan_carries_its_order_and_reading_it_plans_nothing(plan_8b):
    """The order survives plan.json, and a reader takes it as written: an order cut to one offer is one offer."""
    again = Plan.model_validate_json(plan_8b.model_dump_json())
    assert again.fallback_order(3) == plan_8b.fallback_order(3)
    cut = again.model_copy(update={"fallbacks": again.fallbacks[:1]})
    assert [f.quote for f in cut.fallback_order(3)] == [plan_8b.chosen]


def test_a_plan_with_no_launchable_choice_carries_no_order():
    assert plan_fallbacks(None, []) == []
    with pytest.raises(UserError, match="no chosen offer"):
        fallback_order([], None, 3)
