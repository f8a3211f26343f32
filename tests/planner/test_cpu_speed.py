"""The local (CPU) hours model: each term moves with what it measures (the probe) and what the run does."""

import pytest

from tunecost.planner.model.cpu_speed import CpuProbe, local_run_hours, step_seconds
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import DatasetSize, Method, TrainSpec

PROBE = CpuProbe(matmul_gflops=50.0, op_seconds=20e-6, copy_gb_s=8.0, import_seconds=10.0, threads=2,
                 machine="test", measured_at="2026-12-02T00:00:00+00:00")
DEMO = TrainSpec(model="HuggingFaceTB/SmolLM2-135M-Instruct", method="qlora", rank=8, targets="attention",
                 seq_len=64, micro_batch=8, gradient_checkpointing=False, packing=False, epochs=2,
                 dataset=DatasetSize(tokens_per_epoch=320 * 40, examples=320))


def test_hours_are_startup_plus_steps_plus_finish_and_scale_with_steps():
    shape = resolve_shape(DEMO)
    short = local_run_hours(DEMO, shape, PROBE, optimizer_steps=10, eval_examples=32)
    long = local_run_hours(DEMO, shape, PROBE, optimizer_steps=70, eval_examples=32)
    assert short.hours == pytest.approx(sum(short.hours_breakdown.values()))
    assert long.hours_breakdown["training"] == pytest.approx(7 * short.hours_breakdown["training"])
    assert short.hours_breakdown["startup"] == long.hours_breakdown["startup"] >= PROBE.import_seconds / 3600


def test_a_slower_cpu_means_slower_steps_and_qlora_pays_dequantization():
    shape = resolve_shape(DEMO)
    fast, _ = step_seconds(DEMO, shape, PROBE)
    slow, _ = step_seconds(DEMO, shape, PROBE.model_copy(update={"matmul_gflops": 25.0, "op_seconds": 40e-6}))
    assert slow > 1.5 * fast
    lora, _ = step_seconds(DEMO.model_copy(update={"method": Method.lora}), shape, PROBE)
    assert lora < fast


def test_a_tiny_model_is_all_per_step_overhead():
    spec = DEMO.model_copy(update={"model": "x", "method": Method.lora})
    tiny = resolve_shape(TrainSpec(model="HuggingFaceTB/SmolLM2-135M-Instruct")).model_copy(
        update={"num_layers": 2, "hidden_size": 64, "intermediate_size": 128, "vocab_size": 512,
                "num_heads": 4, "num_kv_heads": 4, "head_dim": 16})
    step, notes = step_seconds(spec, tiny, PROBE)
    assert step == pytest.approx(step_seconds(spec, tiny, PROBE.model_copy(update={"matmul_gflops": 1e6}))[0],
                                 rel=0.05)
    assert "optimizer step" in notes[0]
