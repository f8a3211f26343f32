"""Plan JSON fixtures and an isolated TUNECOST_HOME.

OPTIMIZED comes from the real optimizer (a small price table). The hand-written plans (SINGLE, MULTI_GPU,
MULTI_NODE) pin offers, prices and hours the tests assert on; they are built through the planner's own Plan
model, so a missing or mistyped field fails here, not in a test that reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tunecost.planner.fallbacks import plan_fallbacks
from tunecost.planner.market.offers import OFFER_COLUMNS, PriceTables
from tunecost.planner.optimizer import optimize
from tunecost.planner.plan import PLAN_SCHEMA, Plan
from tunecost.planner.spec import DatasetSize, TrainSpec


def quote(provider="runpod", region="US", zone="", instance_type="1x_A100-80GB_SECURE", gpu="A100-80GB",
          gpu_count=1, spot=True, price=1.19, hours=2.0, num_nodes=1, parallelism="single") -> dict:
    """A quote as the plan file holds it; `price` is for all nodes together."""
    return {
        "offer": {"provider": provider, "region": region, "zone": zone, "instance_type": instance_type, "gpu": gpu,
                  "gpu_count": gpu_count, "gpu_memory_gib": 80.0, "nodes": num_nodes, "spot": spot,
                  "price_per_hour": price / num_nodes, "as_of": "undated snapshot (after 2025-09-10)",
                  "source": "test fixture"},
        "hours": hours, "cost": round(price * hours, 4), "peak_gib_per_gpu": 30.0, "pareto": True,
        "parallelism": parallelism, "tokens_per_sec": 2500.0,
        "hours_breakdown": {"compute": hours - 0.2, "step_overhead": 0.0, "communication": 0.0, "provisioning": 0.1,
                            "setup": 0.1, "model_download": 0.0, "checkpoints": 0.0, "rework": 0.0},
        "corrections": {}, "interconnect": "", "interconnect_assumed": False, "communication_hours": 0.0,
    }


def plan(quotes: list[dict], model="HuggingFaceTB/SmolLM2-135M", params_b=0.135, method="qlora") -> Plan:
    """A hand-written plan, checked by the planner's Plan model (a missing or mistyped field fails here); its
    fallback order picked by the planner, as optimize() picks it."""
    hand = Plan.model_validate({"schema_version": PLAN_SCHEMA,
        "spec": {"model": model, "params_b": params_b, "method": method, "rank": 8, "alpha": None,
                 "targets": "all-linear", "virtual_tokens": 20, "seq_len": 64, "micro_batch": 4, "grad_accum": 1,
                 "gradient_checkpointing": True, "optimizer": "paged-adamw-8bit", "precision": "bf16-mixed",
                 "dataset": {"tokens_per_epoch": 20000, "examples": 400, "source": "counted"}, "epochs": 1.0,
                 "packing": False, "framework": "tunecost"},
        "chosen": quotes[0], "quotes": quotes, "infeasible": [], "prices_as_of": "undated snapshot",
        "assumptions": [], "warnings": [], "created_at": "2026-11-23T10:00:00Z", "managed": [],
        "managed_verdict": "",
    })
    return hand.model_copy(update={"fallbacks": plan_fallbacks(hand.chosen, hand.quotes)})


def with_quotes(base: Plan, quotes: list) -> Plan:
    """`base` priced on these offers instead (the first chosen), its fallback order picked as the planner does."""
    return base.model_copy(update={"chosen": quotes[0], "quotes": quotes,
                                   "fallbacks": plan_fallbacks(quotes[0], quotes)})


def _offer(provider, region, instance_type, gpu, count, gib, price, spot=float("nan"), zone="") -> dict:
    return dict(provider=provider, region=region, zone=zone, instance_type=instance_type, gpu=gpu, gpu_count=count,
                gpu_memory_gib=gib, vcpus=8, memory_gib=64, price_per_hour=price, spot_price_per_hour=spot,
                as_of="2026-11-01", source="test price table", flag="")


# The SINGLE workload priced by the real optimizer over a few offers (spot and on-demand A100, L4, T4).
OPTIMIZED_SPEC = TrainSpec(model="HuggingFaceTB/SmolLM2-135M", method="qlora", rank=8, seq_len=64, micro_batch=4,
                           packing=False, dataset=DatasetSize(tokens_per_epoch=20000, examples=400, source="counted"))
OPTIMIZED = optimize(OPTIMIZED_SPEC, PriceTables(offers=pd.DataFrame([
    _offer("runpod", "US", "1x_A100-80GB_SECURE", "A100-80GB", 1, 80.0, 1.64, spot=1.19),
    _offer("lambda", "us-east-1", "gpu_1x_a100_sxm4", "A100-80GB", 1, 80.0, 1.79),
    _offer("aws", "us-east-1", "g6.xlarge", "L4", 1, 22.35, 0.80, spot=0.35, zone="us-east-1a"),
    _offer("gcp", "us-central1", "n1-highmem-8", "T4", 1, 15.0, 0.50, spot=0.20),
], columns=OFFER_COLUMNS), as_of="2026-11-01"))


SINGLE = plan([
    quote(),
    quote(provider="lambda", region="us-east-1", instance_type="gpu_1x_a100_sxm4", spot=False, price=1.79),
    quote(provider="aws", region="us-east-1", zone="us-east-1a", instance_type="p4de.24xlarge", gpu_count=8,
          price=12.0, hours=0.5),
    quote(provider="gcp", region="us-central1", instance_type="n1-highmem-8", gpu="T4", gpu_count=1, price=0.5,
          hours=9.0),
])
MULTI_GPU = plan([
    quote(provider="aws", region="us-east-1", instance_type="g5.12xlarge", gpu="A10G", gpu_count=4, price=2.1,
          hours=3.0, parallelism="ddp"),
    quote(provider="gcp", region="us-central1", instance_type="n1-highmem-8", gpu="V100", gpu_count=4, price=3.2,
          hours=2.5, spot=False, parallelism="ddp"),
], model="meta-llama/Llama-3.1-8B", params_b=8.03, method="lora")
MULTI_NODE = plan([
    quote(provider="aws", region="us-west-2", instance_type="p4d.24xlarge", gpu="A100", gpu_count=8, price=9.8,
          hours=10.0, num_nodes=2, parallelism="fsdp"),
    quote(provider="aws", region="us-east-1", instance_type="p4d.24xlarge", gpu="A100", gpu_count=8, price=10.5,
          hours=10.0, num_nodes=2, parallelism="fsdp"),
    quote(provider="lambda", region="us-east-1", instance_type="gpu_8x_a100", gpu="A100", gpu_count=8, price=14.3,
          hours=20.0, num_nodes=1, parallelism="fsdp"),
], model="meta-llama/Llama-3.1-70B", params_b=70.6, method="full")


@pytest.fixture
def write_plan(tmp_path):
    def _write(data: Plan | dict, name: str = "plan.json") -> Path:
        path = tmp_path / name
        path.write_text(data.model_dump_json() if isinstance(data, Plan) else json.dumps(data))
        return path
    return _write
