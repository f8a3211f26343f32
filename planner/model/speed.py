"""Training throughput per GPU, from the time of one optimizer step: compute, per-step costs, communication.

One optimizer step is `grad_accum` micro steps plus the optimizer update:
- micro step on one GPU = FLOPs / (dense peak x efficiency per method and GPU class)
  + launch seconds per layer and pass (kernel launches, autograd and Python; what makes small batches slow)
  + QLoRA dequantization (bytes per 4-bit weight and pass at the GPU's memory bandwidth);
- FSDP, each micro step: all-gather of the sharded weights per pass (forward, backward, and the recompute with
  checkpointing; 4-bit weights move as 4-bit) and a reduce-scatter of the gradients. FSDP prefetches the next
  layer while the GPU computes this one, so a micro step takes launch overhead + max(GPU work, communication):
  the CPU-bound launch overhead hides no communication (litgpt FSDP rows LGRT-16/17 show it adds). Over PCIe
  without peer-to-peer (one node) the copies are staged through host memory by NCCL's kernels and hide nothing:
  communication adds to the GPU work (Answer.AI's 2x RTX 3090 LoRA rows AA-03/04, 2.6x too fast overlapped);
- DDP: one all-reduce of the trainable gradients per optimizer step (no sync while accumulating), hidden behind
  the last backward up to DDP_BACKWARD_OVERLAP of it; the rest adds to the step;
- optimizer update = step seconds (fixed: zero_grad, clipping, scheduler, logging) + the AdamW update, memory
  bound (the optimizer's update_bytes, job/contract.py OPTIMIZERS, per trainable parameter at the GPU's memory
  bandwidth).
The efficiencies, launch and step seconds and the dequantization bytes (SpeedConstants) are fitted by
benchmarks/validation/speed_calibration.py (recorded in benchmarks/speed_calibration.md; a test checks they equal a fresh fit).
"""

from __future__ import annotations

from functools import lru_cache
from statistics import median
from typing import Optional

from pydantic import BaseModel, ConfigDict

from tunecost.job import contract
from tunecost.planner.market.gpus import GpuSpec, load_gpus
from tunecost.planner.market.interconnect import Interconnect, default_for
from tunecost.planner.model.memory import job_stack
from tunecost.planner.model.static_memory import NF4_BYTES, NF4_CONST_BYTES, adapter_params
from tunecost.planner.model.shapes import ModelShape
from tunecost.planner.spec import Method, Optimizer, Parallelism, Precision, TrainSpec
from tunecost.planner.model.targets import parse_targets



class SpeedConstants(BaseModel):
    """What the FLOPs count cannot know, fitted on published runs (benchmarks/validation/speed_calibration.py)."""

    model_config = ConfigDict(frozen=True)

    efficiency: dict[tuple[str, str], float]   # (method, GPU class) -> achieved / dense peak on long batches
    launch_seconds: float                       # per decoder layer and pass, per micro step
    step_seconds: float                         # per optimizer step, fixed
    dequant_bytes_per_param: float              # QLoRA: bytes moved per 4-bit weight and pass


# ---- fitted: FITTED == speed_calibration.fit() (tests/planner/test_speed_calibration.py); rows each constant
# was fitted on: benchmarks/speed_calibration.md
FITTED = SpeedConstants(
    efficiency={("full", "datacenter"): 0.73, ("full", "workstation"): 0.92,
                ("lora", "datacenter"): 0.57, ("lora", "workstation"): 0.71,
                ("qlora", "datacenter"): 0.62, ("qlora", "workstation"): 0.78},
    launch_seconds=0.00192, step_seconds=0.076, dequant_bytes_per_param=18.8)
# ---- stated, not fitted
COMPILE_SPEEDUP = 8998 / 7075   # TTOPT-03 vs TTOPT-02: same run, torch.compile added
DDP_BACKWARD_OVERLAP = 0.8      # share of the last backward the gradient all-reduce can hide behind (buckets)
FALLBACK_TFLOPS = 10.0          # last resort when nothing is known about a GPU


class SpeedEstimate(BaseModel):
    """Throughput per GPU, how it was derived, and where the step's time goes."""

    tokens_per_sec_per_gpu: float
    flops_per_token: float
    peak_tflops: float
    efficiency: float = 0.0     # achieved FLOP/s / dense peak, everything included
    step_seconds: float = 0.0   # one optimizer step
    tokens_per_micro_batch: float = 0.0
    time_shares: dict[str, float] = {"compute": 1.0}  # compute | communication | step_overhead, sum 1
    communication_share: float = 0.0  # all communication / step time, overlapped or not (exposed: time_shares)
    interconnect: str = ""
    interconnect_assumed: bool = False
    assumptions: list[str]


def gpu_class(gpu: GpuSpec) -> str:
    """GeForce/RTX workstation cards vs datacenter parts: they differ in clocks under sustained load and memory."""
    return "workstation" if gpu.name.upper().startswith("RTX") else "datacenter"


def method_kind(spec: TrainSpec) -> str:
    return "full" if spec.method is Method.full else "qlora" if spec.method is Method.qlora else "lora"


def matmul_params(shape: ModelShape) -> int:
    """Weights multiplied per token: active decoder linears + lm_head (embedding lookup costs no FLOPs)."""
    return shape.num_layers * shape.layer_linear_params(active=True) + shape.vocab_size * shape.hidden_size


def passes(spec: TrainSpec) -> int:
    """Passes over the layers per micro step: forward and backward, plus a recompute with checkpointing."""
    return 3 if spec.gradient_checkpointing else 2


def tokens_per_micro_batch(spec: TrainSpec) -> float:
    """Packed: micro batch x seq_len. Unpacked with a counted dataset: micro batch x its mean example (cut at
    seq_len), since the job pads each batch only to its longest example (padding waste not counted)."""
    if spec.packing or not spec.dataset.examples:
        return float(spec.micro_batch * spec.seq_len)
    mean = spec.dataset.tokens_per_epoch / spec.dataset.examples
    return spec.micro_batch * min(float(spec.seq_len), mean)


def flops_per_token(spec: TrainSpec, shape: ModelShape, seq: Optional[float] = None) -> tuple[float, list[str]]:
    """Training FLOPs per token: forward 2N + attention; backward 2x for trained weights, 1x (input grads only)
    for frozen ones; +1 forward when activations are recomputed (gradient checkpointing)."""
    n = matmul_params(shape)
    seq = seq or spec.seq_len + (spec.virtual_tokens if spec.method is Method.prompt_tuning else 0)
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
    notes.append(f"attention: 2 x q_dim x seq x layers forward at seq {seq:.0f} (causal), 3x with backward")
    return total, notes


@lru_cache(maxsize=64)
def cached_flops_per_token(spec: TrainSpec, shape: ModelShape, seq: float) -> tuple[float, list[str]]:
    """flops_per_token, cached: a sweep or a plan prices the same shape for every offer."""
    fpt, notes = flops_per_token(spec, shape, seq)
    return fpt, notes


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


@lru_cache(maxsize=64)
def trainable_params(spec: TrainSpec, shape: ModelShape) -> int:
    if spec.method is Method.full:
        return shape.total_params()
    if spec.method is Method.prompt_tuning:
        return spec.virtual_tokens * shape.hidden_size
    return adapter_params(spec, shape)[0]


@lru_cache(maxsize=64)
def weight_bytes(spec: TrainSpec, shape: ModelShape) -> float:
    """What FSDP gathers per pass: 16-bit weights; for QLoRA 4-bit linears (+ constants), the rest 16-bit."""
    total = shape.total_params()
    if spec.method is not Method.qlora:
        return 2.0 * total
    linear = shape.num_layers * shape.layer_linear_params()
    return (NF4_BYTES + NF4_CONST_BYTES) * linear + 2.0 * (total - linear)


@lru_cache(maxsize=64)
def grad_bytes(spec: TrainSpec, shape: ModelShape) -> float:
    """Gradients reduced: full fine-tunes in the 16-bit compute dtype, adapters in the job's adapter dtype."""
    per = 2.0 if spec.method is Method.full else float(job_stack(spec, Parallelism.single).adapter_bytes)
    return per * trainable_params(spec, shape)


class _Step(BaseModel):
    """Seconds of one optimizer step by cause."""

    compute: float
    overhead: float
    communication: float

    @property
    def total(self) -> float:
        return self.compute + self.overhead + self.communication


def _communication(spec: TrainSpec, shape: ModelShape, n: int, parallelism: Parallelism, bus_gb_s: float,
                   gpu_work: float, backward: float, overlaps: bool = True) -> tuple[float, float, float, str]:
    """(exposed seconds per micro step, exposed seconds per optimizer step, all seconds per optimizer step, note)."""
    if n <= 1 or parallelism is Parallelism.single:
        return 0.0, 0.0, 0.0, ""
    share, bw = (n - 1) / n, bus_gb_s * 1e9
    if parallelism is Parallelism.fsdp:
        gather = passes(spec) * weight_bytes(spec, shape) * share / bw
        scatter = grad_bytes(spec, shape) * share / bw
        comm = gather + scatter
        if not overlaps:  # host-staged PCIe: the copies contend with compute instead of hiding behind it
            return comm, 0.0, spec.grad_accum * comm, (
                f"FSDP over {n} GPUs: per micro step {passes(spec)} all-gathers of the weights "
                f"({weight_bytes(spec, shape) / 1e9:.1f} GB) + a reduce-scatter of "
                f"{grad_bytes(spec, shape) / 1e9:.2f} GB at {bus_gb_s:.0f} GB/s = {comm:.3f} s per micro step, "
                "not overlapped: without peer-to-peer the copies are staged through host memory by NCCL kernels")
        return max(0.0, comm - gpu_work), 0.0, spec.grad_accum * comm, (
            f"FSDP over {n} GPUs: per micro step {passes(spec)} all-gathers of the weights "
            f"({weight_bytes(spec, shape) / 1e9:.1f} GB{', 4-bit linears' if spec.method is Method.qlora else ''}) "
            f"+ a reduce-scatter of {grad_bytes(spec, shape) / 1e9:.2f} GB of gradients at {bus_gb_s:.0f} GB/s = "
            f"{comm:.3f} s vs {gpu_work:.3f} s of GPU work per micro step; overlapped (prefetch): the larger counts")
    allreduce = 2 * share * grad_bytes(spec, shape) / bw
    exposed = max(0.0, allreduce - DDP_BACKWARD_OVERLAP * backward)
    return 0.0, exposed, allreduce, (
        f"DDP over {n} GPUs: one all-reduce of {grad_bytes(spec, shape) / 1e9:.2f} GB of gradients per optimizer "
        f"step at {bus_gb_s:.0f} GB/s = {allreduce:.3f} s, hidden behind up to {DDP_BACKWARD_OVERLAP:.0%} of the "
        f"last backward ({exposed:.3f} s exposed)")


def estimate_speed(spec: TrainSpec, shape: ModelShape, gpu: GpuSpec, gpu_count: int = 1,
                   parallelism: Parallelism = Parallelism.single, interconnect: Optional[Interconnect] = None,
                   nodes: int = 1, constants: SpeedConstants = FITTED) -> SpeedEstimate:
    """Tokens per second per GPU for an eager PyTorch step (the job does not use torch.compile).

    `gpu_count` is all GPUs of the run (over `nodes` nodes); `interconnect` is the offer's (default: what the GPU
    alone implies, see planner/market/interconnect.py)."""
    parallelism = Parallelism(parallelism)
    link = interconnect or default_for(gpu.name)
    tokens = tokens_per_micro_batch(spec)
    seq = tokens / spec.micro_batch + (spec.virtual_tokens if spec.method is Method.prompt_tuning else 0)
    fpt, notes = cached_flops_per_token(spec, shape, seq)
    notes = list(notes)
    peak, note = peak_tflops(gpu, spec.precision.compute)
    notes.append(note or "")
    kind, cls = method_kind(spec), gpu_class(gpu)
    c = constants
    eff = c.efficiency[(kind, cls)]
    notes.append(f"efficiency {eff:.2f} of dense peak for {kind} on {cls} GPUs (calibrated on published runs)")
    bw, bw_note = _bandwidth_tb_s(gpu, peak)
    notes.append(bw_note or "")
    compute = tokens * fpt / (peak * 1e12 * eff)
    launch = c.launch_seconds * shape.num_layers * passes(spec)
    dequant = 0.0
    if spec.method is Method.qlora:
        linear = shape.num_layers * shape.layer_linear_params()
        dequant = passes(spec) * linear * c.dequant_bytes_per_param / (bw * 1e12)
        notes.append(f"QLoRA dequantization: {passes(spec)} passes x {c.dequant_bytes_per_param:g} B per 4-bit weight "
                     f"at {bw:.2f} TB/s = {dequant * 1e3:.1f} ms per micro step")
    local = compute + launch + dequant
    notes.append(f"{tokens:,.0f} tokens per micro batch: {compute * 1e3:.1f} ms of matmuls + "
                 f"{launch * 1e3:.1f} ms of launch overhead ({c.launch_seconds * 1e3:.2f} ms per layer and pass)")
    backward = local * (passes(spec) - 1) / passes(spec)
    exposed_micro, exposed_step, comm_all, comm_note = _communication(
        spec, shape, gpu_count, parallelism, link.bus_gb_s(nodes), compute + dequant, backward,
        overlaps=link.kind != "pcie_host" or nodes > 1)
    if comm_note:
        notes.append(comm_note)
        notes.append(f"interconnect: {link.describe(nodes)}")
    moved = contract.OPTIMIZERS[spec.optimizer].update_bytes  # read p, g, states; write p, states (fp32 p)
    update = c.step_seconds + trainable_params(spec, shape) * moved / (bw * 1e12)
    notes.append(f"optimizer step: {c.step_seconds * 1e3:.0f} ms fixed + {spec.optimizer.value} update "
                 f"({moved:g} B per trainable param), once per {spec.grad_accum} micro step(s)")
    ga = spec.grad_accum
    step = _Step(compute=ga * (compute + dequant), overhead=ga * launch + update,
                 communication=ga * exposed_micro + exposed_step)
    tps = ga * tokens / step.total
    shares = {"compute": step.compute / step.total, "communication": step.communication / step.total,
              "step_overhead": step.overhead / step.total}
    multi = gpu_count > 1 and parallelism is not Parallelism.single
    return SpeedEstimate(
        tokens_per_sec_per_gpu=round(tps, 1), flops_per_token=fpt, peak_tflops=peak,
        efficiency=round(tps * fpt / (peak * 1e12), 4), step_seconds=step.total, tokens_per_micro_batch=tokens,
        time_shares={k: round(v, 6) for k, v in shares.items()}, communication_share=round(comm_all / step.total, 6),
        interconnect=link.describe(nodes) if multi else "",
        interconnect_assumed=multi and not link.sourced, assumptions=[n for n in notes if n])
