"""Training throughput per GPU: FLOPs per token over achieved FLOP/s (dense peak x calibrated efficiency).

FLOPs per token are counted from the shape (what each matmul costs forward and backward); everything the count
cannot know (kernel quality, launch overhead, Python) lives in one efficiency factor per method and GPU class,
fitted on published runs (benchmarks/estimate_accuracy.py, rows cited below). QLoRA adds a memory-bound
dequantization term, because it grows with model size and shrinks with tokens per micro batch, unlike FLOPs.
"""

from __future__ import annotations

from statistics import median
from typing import Optional

from pydantic import BaseModel

from tunecost.planner.gpus import GpuSpec, load_gpus
from tunecost.planner.shapes import ModelShape
from tunecost.planner.spec import Method, Parallelism, Precision, TrainSpec
from tunecost.planner.targets import parse_targets

# Achieved / dense peak for an eager PyTorch step (HF Trainer + PEFT, SDPA), by method and GPU class.
# Fitted in benchmarks/estimate_accuracy.py on TTOPT-02, TTL2-02..06, TT31-01..05/07/08, TTOPT-09/10, TTL2-01
# (rows run with torch.compile are divided by COMPILE_SPEEDUP first).
# Median of measured/estimated over each cell's rows (1-4 rows per cell: in-sample, see estimate_accuracy.md).
EFFICIENCY = {
    ("full", "datacenter"): 0.50, ("full", "workstation"): 0.66,     # TTOPT-02/05; TT31-02, TTL2-05
    ("lora", "datacenter"): 0.52, ("lora", "workstation"): 0.74,     # TTOPT-09, TT31-07, TTL2-06; TT31-03/04, TTL2-02/03
    ("qlora", "datacenter"): 0.53, ("qlora", "workstation"): 0.61,   # TTOPT-10, TT31-08; TT31-05, TTL2-01
}
COMPILE_SPEEDUP = 8998 / 7075          # TTOPT-03 vs TTOPT-02: same run, torch.compile added
DEQUANT_BYTES_PER_PARAM = 5.0          # NF4 -> bf16 per pass: read 0.5 B, write 2 B, re-read 2 B (+ kernel waste)
SCALING = {Parallelism.single: 1.0, Parallelism.ddp: 0.95, Parallelism.fsdp: 0.90}
FALLBACK_TFLOPS = 10.0                 # last resort when nothing is known about a GPU


class SpeedEstimate(BaseModel):
    """Throughput per GPU and how it was derived."""

    tokens_per_sec_per_gpu: float
    flops_per_token: float
    peak_tflops: float
    efficiency: float
    assumptions: list[str]


def gpu_class(gpu: GpuSpec) -> str:
    """GeForce/RTX workstation cards vs datacenter parts: they differ in clocks under sustained load and memory."""
    return "workstation" if gpu.name.upper().startswith("RTX") else "datacenter"


def matmul_params(shape: ModelShape) -> int:
    """Weights multiplied per token: active decoder linears + lm_head (embedding lookup costs no FLOPs)."""
    return shape.num_layers * shape.layer_linear_params(active=True) + shape.vocab_size * shape.hidden_size


def flops_per_token(spec: TrainSpec, shape: ModelShape) -> tuple[float, list[str]]:
    """Training FLOPs per token: forward 2N + attention; backward 2x for trained weights, 1x (input grads only)
    for frozen ones; +1 forward when activations are recomputed (gradient checkpointing)."""
    n = matmul_params(shape)
    seq = spec.seq_len + (spec.virtual_tokens if spec.method is Method.prompt_tuning else 0)
    attn_fwd = 2.0 * shape.q_dim * seq * shape.num_layers  # QK^T and AV, causal half: 2 x 2 x s/2 x q_dim
    notes = []
    if spec.method is Method.full:
        dense = 6.0 * n
        notes.append(f"full: 6N FLOPs per token (N = {n / 1e9:.2f}B multiplied weights)")
    else:
        dense = 4.0 * n
        notes.append(f"{spec.method.value}: 4N FLOPs per token (frozen weights: no weight gradients)")
        if spec.method in (Method.lora, Method.qlora):
            kinds = parse_targets(spec.targets)
            adapters = sum(spec.rank * (i + o) * (shape.experts_per_token if shape.is_moe and k in
                           ("gate", "up", "down") else 1) for k, (i, o, _) in shape.linear_shapes().items()
                           if k in kinds) * shape.num_layers
            dense += 6.0 * adapters
    total = dense + 3.0 * attn_fwd
    if spec.gradient_checkpointing:
        total += 2.0 * n + attn_fwd
        notes.append("gradient checkpointing: +1 forward pass (+2N) for recomputation")
    notes.append(f"attention: 2 x q_dim x seq x layers forward at seq {seq} (causal), 3x with backward")
    return total, notes


def peak_tflops(gpu: GpuSpec, precision: Precision) -> tuple[float, Optional[str]]:
    """Dense peak for the compute precision; if the table has none, scale from the nearest known GPU."""
    known = gpu.peak_tflops(precision)
    if known:
        return float(known), None
    others = [g for g in load_gpus().values() if g.peak_tflops(precision) and g.name != gpu.name]
    same = [g for g in others if g.architecture and g.architecture == gpu.architecture and g.bandwidth_tb_s]
    if gpu.bandwidth_tb_s and same:
        ref = min(same, key=lambda g: abs(g.bandwidth_tb_s - gpu.bandwidth_tb_s))
        value = ref.peak_tflops(precision) * gpu.bandwidth_tb_s / ref.bandwidth_tb_s
        return value, (f"no {precision.value} TFLOPS for {gpu.name}: scaled from {ref.name} "
                       f"({gpu.architecture}) by memory bandwidth -> {value:.0f} TFLOPS (assumed)")
    with_bw = [g for g in others if g.bandwidth_tb_s]
    if gpu.bandwidth_tb_s and with_bw:
        ratio = median(g.peak_tflops(precision) / g.bandwidth_tb_s for g in with_bw)
        value = ratio * gpu.bandwidth_tb_s
        return value, (f"no {precision.value} TFLOPS for {gpu.name}: median TFLOPS per TB/s of known GPUs "
                       f"x its bandwidth -> {value:.0f} TFLOPS (assumed)")
    return FALLBACK_TFLOPS, f"nothing known about {gpu.name}'s speed: assumed {FALLBACK_TFLOPS:g} TFLOPS"


def _bandwidth_tb_s(gpu: GpuSpec, tflops: float) -> tuple[float, Optional[str]]:
    if gpu.bandwidth_tb_s:
        return gpu.bandwidth_tb_s, None
    value = tflops / 300.0  # typical datacenter ratio (A100: 312 TFLOPS / ~1.6-2 TB/s)
    return value, f"no memory bandwidth for {gpu.name}: assumed {value:.2f} TB/s from its TFLOPS"


def estimate_speed(spec: TrainSpec, shape: ModelShape, gpu: GpuSpec, gpu_count: int = 1,
                   parallelism: Parallelism = Parallelism.single) -> SpeedEstimate:
    """Tokens per second per GPU for an eager PyTorch step (the job does not use torch.compile)."""
    parallelism = Parallelism(parallelism)
    fpt, notes = flops_per_token(spec, shape)
    peak, note = peak_tflops(gpu, spec.precision.compute)
    if note:
        notes.append(note)
    method = "full" if spec.method is Method.full else "qlora" if spec.method is Method.qlora else "lora"
    cls = gpu_class(gpu)
    eff = EFFICIENCY[(method, cls)]
    notes.append(f"efficiency {eff:.2f} of dense peak for {method} on {cls} GPUs (calibrated on published runs)")
    seconds_per_token = fpt / (peak * 1e12 * eff)
    if spec.method is Method.qlora:
        bw, bw_note = _bandwidth_tb_s(gpu, peak)
        if bw_note:
            notes.append(bw_note)
        passes = 3 if spec.gradient_checkpointing else 2
        linear = shape.num_layers * shape.layer_linear_params()
        dequant = passes * linear * DEQUANT_BYTES_PER_PARAM / (bw * 1e12)
        seconds_per_token += dequant / (spec.micro_batch * spec.seq_len)
        notes.append(f"QLoRA dequantization: {passes} passes x {DEQUANT_BYTES_PER_PARAM:g} B/param at "
                     f"{bw:.2f} TB/s per micro batch of {spec.micro_batch * spec.seq_len} tokens")
    scale = SCALING[parallelism] if gpu_count > 1 else 1.0
    if gpu_count > 1:
        notes.append(f"{parallelism.value} over {gpu_count} GPUs: {scale:.0%} scaling efficiency per GPU (assumed)")
    tps = scale / seconds_per_token
    return SpeedEstimate(tokens_per_sec_per_gpu=round(tps, 1), flops_per_token=fpt, peak_tflops=peak,
                         efficiency=round(tps * fpt / (peak * 1e12), 4), assumptions=notes)
