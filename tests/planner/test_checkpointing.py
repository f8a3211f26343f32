"""The checkpoint interval (Young/Daly) and the expected hours of checkpoints and re-work (Daly's model), and the
checkpoint size the planner reads from the job contract."""

from __future__ import annotations

import math

import pytest

from tunecost.job import contract
from tunecost.planner.market.providers import provider_of
from tunecost.planner.model.checkpointing import daly_interval, expected_time
from tunecost.planner.model.memory import estimate_memory
from tunecost.planner.quote import checkpoint_gb
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import DatasetSize, Method, TrainSpec


@pytest.mark.parametrize("write, rate", [(0.01, 0.05), (0.1, 0.3), (0.5, 1.0), (0.05, 2.0)])
def test_daly_interval_is_near_young_and_near_the_best_segment_count(write, rate):
    tau = daly_interval(write, rate)
    young = math.sqrt(2 * write / rate)
    assert tau == pytest.approx(young, rel=0.35) and tau <= young * 1.1
    work, restart = 40.0, 0.3
    chosen = expected_time(work, tau, write, restart, rate)
    best = min(sum(expected_time(work, work / n, write, restart, rate).model_dump(exclude={"segments"}).values())
               for n in range(1, 400))
    assert chosen.extra == pytest.approx(best, rel=0.03)  # the formula lands at the numerical optimum


def test_no_interruptions_means_no_checkpoint_and_no_rework():
    assert daly_interval(0.2, 0.0) == math.inf
    run = expected_time(10.0, math.inf, 0.2, 0.5, 0.0)
    assert (run.segments, run.checkpoints, run.rework) == (1, 0.0, 0.0)


def test_a_rare_failure_rate_checkpoints_far_less_often_than_spot():
    write = 0.05
    on_demand = daly_interval(write, 8 * 1.97e-5)  # an 8-GPU node's hardware failures
    spot = daly_interval(write, 0.962)               # an 8-GPU spot instance
    assert on_demand > 20.0 > 1.0 > spot
    run = expected_time(5.0, on_demand, write, 0.5, 8 * 1.97e-5)
    assert run.checkpoints == 0.0 and run.rework < 0.01  # a 5 h run never stops to checkpoint


def test_checkpoint_size_is_what_the_job_saves():
    def size(method: Method, **kw) -> float:
        s = TrainSpec(model="meta-llama/Llama-3.1-70B", method=method, dataset=DatasetSize(tokens_per_epoch=10**6),
                      **kw)
        return checkpoint_gb(s, estimate_memory(s, resolve_shape(s)).trainable_params)

    params = resolve_shape(TrainSpec(model="meta-llama/Llama-3.1-70B")).total_params()
    assert size(Method.full) == pytest.approx(params * 12 / 1e9, rel=1e-6)  # fp32 master weights + AdamW m, v
    assert size(Method.full, precision="bf16") == pytest.approx(params * 6 / 1e9, rel=1e-6)
    assert size(Method.qlora) < 0.01 * size(Method.full)  # the adapter alone
    assert contract.checkpoint_bytes_per_param("lora", "bf16-mixed", "adamw-8bit") == 6.0


def test_write_speed_per_provider_with_a_stated_basis():
    from sky.clouds.aws import AWS  # the pinned SkyPilot's own disk settings: its default tier on AWS
    from sky.utils.resources_utils import DiskTier

    disk = AWS._get_disk_specs(DiskTier.MEDIUM)
    aws = provider_of("aws").checkpoint_storage
    assert disk["disk_tier"] == "gp3" and "gp3" in aws.source
    assert aws.write_gb_per_s == pytest.approx(disk["disk_throughput"] / 1000)  # MB/s -> GB/s
    unknown = provider_of("some-new-cloud").checkpoint_storage
    assert unknown.basis == "assumed" and unknown.write_gb_per_s == 1.0
