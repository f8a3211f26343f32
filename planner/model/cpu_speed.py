"""Hours of a local run on this machine's CPU: startup + micro steps x step time + the end of the run.

The same FLOPs count as on a GPU (speed.flops_per_token, fp32 on CPU), divided by the matmul throughput a short
probe measured here (launcher/backends/cpu_probe.py, cached under TUNECOST_HOME; an input, never taken here),
plus what dominates small models on a CPU: the dispatch cost of every op (probed per op, times CPU_OPS_PER_LAYER_PASS ops per layer and pass) and the
job's startup (imports, probed; model load per parameter). Constants below are stated; benchmarks/local_hours.md
records how they were set and how the estimate compares with runs measured here.
"""

from __future__ import annotations

import math
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from tunecost.planner.model.shapes import ModelShape
from tunecost.planner.spec import Method, TrainSpec
from tunecost.planner.model.speed import cached_flops_per_token, passes, tokens_per_micro_batch, trainable_params

# Python-bound work is counted in probed op-times (CpuProbe.op_seconds), so it follows this machine's speed and load.
CPU_OPS_PER_LAYER_PASS = 60      # dispatched ops per decoder layer and pass (HF Llama layer + PEFT adapters): stated
STEP_COST_OPS = 18_000           # HF Trainer per optimizer step (collate, callbacks, logging, clip, step): set on
                                 # one tiny-model run here (benchmarks/local_hours.md)
FINISH_COST_OPS = 50_000         # final save and run summary: stated
CPU_DEQUANT_BYTES = 8.0          # 4-bit -> fp32 per weight and pass when the probe could not time bitsandbytes
LOAD_SECONDS_PER_GPARAM = {"gguf": 60.0, "folder": 4.0}  # weights read + 4-bit quantization, s per 1e9 params
SAMPLE_TOKENS = 2 * 48           # the job generates one sample before and one after training (when it holds out)
EVAL_PASSES = 2                  # and evaluates the held-out examples before and after (job/train.py)


class CpuProbe(BaseModel):
    """What launcher/backends/cpu_probe.py measured on this machine (one process, the job's thread count)."""

    model_config = ConfigDict(frozen=True)

    matmul_gflops: float     # fp32 matmul forward + input gradient at a small-model shape
    op_seconds: float        # one small op forward + backward through autograd
    copy_gb_s: float         # memory bandwidth (tensor copy)
    import_seconds: float    # import torch, transformers, peft in a fresh process
    nf4_seconds: Optional[float] = None  # bitsandbytes 4-bit weight: extra seconds per weight and pass
    threads: int
    machine: str
    measured_at: str


class LocalEstimate(BaseModel):
    hours: float
    hours_breakdown: dict[str, float]
    step_seconds: float
    assumptions: list[str]


class LocalQuote(BaseModel):
    """What a run of the job on this machine is expected to need and take (planner/local_quote.py makes it for
    `launch --local`, which records it)."""

    model: str = Field(description="the model the job trains, by the name it was given")
    peak_gib: Optional[float] = Field(default=None, description="one process; None when the model has no known "
                                      "shape, so a report says 'no estimate' rather than compare with a wrong one")
    estimate: Optional[LocalEstimate] = Field(default=None, description="hours on this machine; None without an "
                                              "example count, a known shape or a probe")
    probe: Optional[CpuProbe] = Field(default=None, description="the measurement of this machine the hours rest on")


def step_seconds(spec: TrainSpec, shape: ModelShape, probe: CpuProbe) -> tuple[float, list[str]]:
    """One optimizer step on this CPU: matmuls at the probed rate + per-op dispatch + 4-bit dequantization."""
    tokens = tokens_per_micro_batch(spec)
    fpt, _ = cached_flops_per_token(spec, shape, tokens / spec.micro_batch)
    matmul = tokens * fpt / (probe.matmul_gflops * 1e9)
    ops = CPU_OPS_PER_LAYER_PASS * shape.num_layers * passes(spec) * probe.op_seconds
    dequant = 0.0
    if spec.method is Method.qlora:
        per_weight = probe.nf4_seconds if probe.nf4_seconds is not None else CPU_DEQUANT_BYTES / (probe.copy_gb_s * 1e9)
        dequant = passes(spec) * shape.num_layers * shape.layer_linear_params() * per_weight
    update = STEP_COST_OPS * probe.op_seconds + trainable_params(spec, shape) * 28 / (probe.copy_gb_s * 1e9)
    step = spec.grad_accum * (matmul + ops + dequant) + update
    note = (f"CPU step: {spec.grad_accum} x ({matmul:.3f} s matmuls at {probe.matmul_gflops:.0f} GFLOP/s + "
            f"{ops:.3f} s for {CPU_OPS_PER_LAYER_PASS} ops per layer and pass at {probe.op_seconds * 1e6:.0f} us"
            + (f" + {dequant:.3f} s 4-bit dequantization" if dequant else "") + f") + {update:.3f} s optimizer step")
    return step, [note]


def _forward_seconds(spec: TrainSpec, shape: ModelShape, probe: CpuProbe, tokens: float) -> float:
    """One forward pass over `tokens` tokens (eval batches, generated tokens): a third of training FLOPs."""
    fpt, _ = cached_flops_per_token(spec.model_copy(update={"gradient_checkpointing": False}), shape, max(tokens, 1.0))
    return CPU_OPS_PER_LAYER_PASS * shape.num_layers * probe.op_seconds + tokens * fpt / 3 / (probe.matmul_gflops * 1e9)


def local_run_hours(spec: TrainSpec, shape: ModelShape, probe: CpuProbe, *, optimizer_steps: int,
                    eval_examples: int = 0, model_source: str = "folder") -> LocalEstimate:
    """Hours the launcher will record for a local run of `optimizer_steps` steps (the whole process)."""
    step, notes = step_seconds(spec, shape, probe)
    load = shape.total_params() / 1e9 * LOAD_SECONDS_PER_GPARAM[model_source]
    per_example = tokens_per_micro_batch(spec) / spec.micro_batch
    evals = EVAL_PASSES * math.ceil(eval_examples / spec.micro_batch) * _forward_seconds(
        spec, shape, probe, tokens_per_micro_batch(spec))
    samples = SAMPLE_TOKENS * _forward_seconds(spec, shape, probe, 1.0) if eval_examples else 0.0
    parts = {
        "startup": (probe.import_seconds + load) / 3600,  # the probe's imports cover the job's setup as well
        "training": optimizer_steps * step / 3600,
        "finish": (evals + samples + FINISH_COST_OPS * probe.op_seconds) / 3600,
    }
    notes.append(f"held-out eval of {eval_examples} examples of ~{per_example:.0f} tokens before and after training, "
                 f"and {SAMPLE_TOKENS if eval_examples else 0} generated sample tokens")
    notes += [f"startup: {probe.import_seconds:.1f} s imports (probed) + {load:.1f} s model load "
              f"({LOAD_SECONDS_PER_GPARAM[model_source]:g} s per 1e9 params, {model_source})",
              f"{optimizer_steps} optimizer steps x {step:.2f} s; probe of {probe.machine} at {probe.measured_at}"]
    return LocalEstimate(hours=sum(parts.values()), hours_breakdown=parts, step_seconds=step, assumptions=notes)
