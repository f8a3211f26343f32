"""Interconnect data (pricing_data/interconnect.csv) and how offers carry it into the plan."""

import csv
from importlib.resources import files

import pytest

from tunecost.planner.market.interconnect import lookup
from tunecost.planner.market.offers import load_prices
from tunecost.planner.optimizer import optimize
from tunecost.planner.spec import DatasetSize, Framework, Method, TrainSpec


def rows():
    text = files("tunecost.pricing_data").joinpath("interconnect.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def test_every_row_has_a_source_a_basis_and_a_positive_bandwidth():
    for row in rows():
        assert row["source"].strip(), row
        assert row["basis"] in ("provider", "datasheet", "assumed", "default"), row
        assert float(row["link_gb_s"]) > 0
        assert row["p2p"] in ("yes", "no")
    assert sum(not (r["provider"] or r["instance_type"] or r["gpu"]) for r in rows()) == 1  # one global default


def test_most_specific_row_wins_and_unknowns_get_the_conservative_default():
    assert lookup("aws", "p4d.24xlarge", "A100").sourced  # AWS states NVSwitch + EFA for p4d
    assert lookup("aws", "p4d.24xlarge", "A100").network_gbps == 400
    assert lookup("gcp", "n1-highmem-8+V100:4", "V100").kind == "nvlink"   # GCP: NVLink ring
    marketplace_v100 = lookup("primeintellect", "datacrunch__2xV100_16GB", "V100")
    assert marketplace_v100.kind == "pcie_host" and not marketplace_v100.sourced  # name covers PCIe cards too
    assert lookup("shadeform", "lambdalabs_A100-sxm4-80GBx8", "A100-80GB").kind == "nvlink"  # the name says SXM
    unknown = lookup("someone", "box", "RTX4090")
    assert unknown.gpu_link.startswith("PCIe Gen4") and not unknown.p2p and unknown.basis == "default"
    assert unknown.bus_gb_s() < lookup("aws", "p4d.24xlarge", "A100").bus_gb_s() / 10


@pytest.fixture(scope="module")
def plan_8b_qlora(tmp_path_factory):
    # priced for plain HF + PEFT (17.1 GiB): 16 GB cards then need FSDP over 2 GPUs (the lean job fits one)
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method=Method.qlora, framework=Framework.hf,
                     dataset=DatasetSize(tokens_per_epoch=20_000_000))
    return optimize(spec, load_prices(home=tmp_path_factory.mktemp("home")), top_k=10**6)


def test_8b_qlora_plan_prices_its_multi_gpu_offers_over_their_links(plan_8b_qlora):
    """8B QLoRA fits one 16 GB GPU, so its 2-8 GPU offers run DDP: the adapter gradients' all-reduce is priced
    over the offer's PCIe link and shown (small: LoRA gradients are ~0.2 GB)."""
    multi = [q for q in plan_8b_qlora.quotes if q.offer.gpu_count > 1]
    assert multi and any("PCIe" in q.interconnect for q in multi)
    for q in multi:
        assert q.interconnect and q.communication_hours > 0 and "communication" in q.hours_breakdown
        assert q.hours == pytest.approx(sum(q.hours_breakdown.values()), rel=1e-3)
    singles = [q for q in plan_8b_qlora.quotes if q.offer.gpu_count == 1]
    assert all(q.interconnect == "" and q.communication_hours == 0 for q in singles)


def test_70b_qlora_prices_fsdp_over_pcie_and_its_exposed_communication_adds_hours(tmp_path):
    spec = TrainSpec(model="meta-llama/Llama-3.1-70B", method=Method.qlora,
                     dataset=DatasetSize(tokens_per_epoch=20_000_000))
    plan = optimize(spec, load_prices(home=tmp_path), top_k=10**6)
    pcie_fsdp = [q for q in plan.quotes if q.parallelism == "fsdp" and "PCIe" in q.interconnect]
    assert pcie_fsdp, "no FSDP quote over PCIe"
    slow = [q for q in pcie_fsdp if q.hours_breakdown["communication"] > 0]
    assert slow  # a PCIe Gen3 link without P2P cannot hide the 4-bit all-gathers behind compute
    for q in slow:
        assert q.communication_hours >= q.hours_breakdown["communication"]
        assert q.hours == pytest.approx(sum(q.hours_breakdown.values()), rel=1e-3)


def test_chosen_is_the_cheapest_of_all_feasible_offers_and_an_assumed_link_is_said(plan_8b_qlora):
    plan = plan_8b_qlora
    assert plan.chosen.cost == min(q.cost for q in plan.quotes)
    assert len({(q.offer.provider, q.offer.instance_type, q.offer.spot, q.offer.nodes) for q in plan.quotes}) == len(plan.quotes)
    if plan.chosen.interconnect_assumed:
        assert any("assumed interconnect" in w and plan.chosen.interconnect in w for w in plan.warnings)
    else:
        assert not any("assumed interconnect" in w for w in plan.warnings)
