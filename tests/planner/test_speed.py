"""Throughput estimates against published runs (tokens/s rows of tests/data/published_runs.csv)."""

from pathlib import Path
from statistics import median

import pytest

from tunecost.planner.calibration import compare
from tunecost.planner.gpus import GpuSpec, get_gpu
from tunecost.planner.shapes import resolve_shape
from tunecost.planner.spec import TrainSpec
from tunecost.planner.speed import estimate_speed, flops_per_token

CSV = Path(__file__).resolve().parents[1] / "data" / "published_runs.csv"
SPEED = [c for c in compare(CSV) if c.quantity == "speed"]


@pytest.mark.parametrize("cmp", SPEED, ids=lambda c: f"{c.row_id}_{c.method}")
def test_tokens_per_sec_within_40pct_of_published_row(cmp):
    assert abs(cmp.rel_error) <= 0.40, (
        f"{cmp.row_id}: estimate {cmp.estimate:.0f} vs measured {cmp.measured:.0f} tok/s ({cmp.rel_error:+.0%})")


@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_median_speed_error_per_method_under_15pct(method):
    errors = [abs(c.rel_error) for c in SPEED if c.method == method]
    assert len(errors) >= 4
    assert median(errors) <= 0.15, f"{method}: median {median(errors):.1%} over {len(errors)} rows"


def test_flops_per_token_is_6N_full_and_about_4N_lora_plus_2N_recompute():
    shape = resolve_shape(TrainSpec(model="Llama-3.1-8B"))
    n = shape.total_params() - shape.vocab_size * shape.hidden_size  # embedding lookup costs nothing
    full, _ = flops_per_token(TrainSpec(model="x", method="full", seq_len=1, gradient_checkpointing=False), shape)
    lora, _ = flops_per_token(TrainSpec(model="x", method="lora", seq_len=1, gradient_checkpointing=False), shape)
    lora_gc, _ = flops_per_token(TrainSpec(model="x", method="lora", seq_len=1), shape)
    assert full == pytest.approx(6 * n, rel=0.01)
    assert lora == pytest.approx(4 * n, rel=0.02)
    assert lora_gc - lora == pytest.approx(2 * n, rel=0.01)


def test_qlora_dequantization_costs_more_at_small_micro_batches():
    shape = resolve_shape(TrainSpec(model="Llama-3.1-8B"))
    gpu = get_gpu("A100-80GB")
    small = estimate_speed(TrainSpec(model="x", method="qlora", micro_batch=1, seq_len=512), shape, gpu)
    big = estimate_speed(TrainSpec(model="x", method="qlora", micro_batch=8, seq_len=512), shape, gpu)
    lora = estimate_speed(TrainSpec(model="x", method="lora", micro_batch=1, seq_len=512), shape, gpu)
    assert small.tokens_per_sec_per_gpu < big.tokens_per_sec_per_gpu
    assert small.tokens_per_sec_per_gpu < lora.tokens_per_sec_per_gpu


def test_gpu_without_tflops_still_gets_a_stated_estimate():
    shape = resolve_shape(TrainSpec(model="Llama-3.1-8B"))
    bare = GpuSpec(name="A10G-test", memory_gib=24, bandwidth_tb_s=0.6, architecture="Ampere")
    est = estimate_speed(TrainSpec(model="x"), shape, bare)
    assert est.tokens_per_sec_per_gpu > 0 and est.peak_tflops > 0
    assert any("no bf16 TFLOPS for A10G-test" in a for a in est.assumptions)
    nothing = GpuSpec(name="Mystery", memory_gib=24)
    assert any("assumed" in a for a in estimate_speed(TrainSpec(model="x"), shape, nothing).assumptions)


def test_multi_gpu_speed_is_per_gpu_with_stated_scaling():
    spec = TrainSpec(model="Llama-3.1-8B", method="lora")
    shape, gpu = resolve_shape(spec), get_gpu("H100")
    one = estimate_speed(spec, shape, gpu)
    four = estimate_speed(spec, shape, gpu, gpu_count=4, parallelism="fsdp")
    assert four.tokens_per_sec_per_gpu < one.tokens_per_sec_per_gpu
    assert any("scaling efficiency" in a for a in four.assumptions)
