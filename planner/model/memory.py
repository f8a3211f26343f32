"""Peak GPU memory per GPU for a fine-tune: weights, adapters, gradients, optimizer states, activations, logits.

The peak is the largest of the moments of a training step, and the components reported are those of the
peak moment (they sum to peak_gib):
  * start of backward: static memory + all saved activations + the loss buffers (+ gradients already alive);
  * optimizer step: static memory + all gradients + the optimizer's temporaries;
  * model load, for a stack that quantizes with large temporaries.
The terms come from static_memory.py (weights, trainable state), activation_memory.py (what a micro batch
saves) and loss_memory.py (the loss kernel's buffers); this module picks the peak moment, adds the calibrated
overhead and the band. Every constant is an assumption string in the result, so a user can see why a plan fits.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel

from tunecost.job import contract
from tunecost.planner.model import bands
from tunecost.planner.model.activation_memory import Activations, Buffers, activation_memory, buffers
from tunecost.planner.model.frameworks import STACKS, Stack, framework_note, stack_name
from tunecost.planner.model.loss_memory import loss_buffer_bytes, loss_kernel, loss_note
from tunecost.planner.model.shapes import ModelShape
from tunecost.planner.model.static_memory import Static, static_memory
from tunecost.planner.spec import Framework, LossKernel, Method, Parallelism, Precision, TrainSpec

GIB = 2**30
CUDA_CONTEXT_GIB = 0.8                           # CUDA context + kernels (not seen by torch's allocator)
ALLOCATOR_SLACK = 0.05                           # caching-allocator fragmentation over allocated peak
# What the physics above leaves unexplained on a framework's own published runs, as a fraction of the modelled
# allocated peak, per "framework/group" (see calibration.overhead_group / fit_overheads; a test checks these equal
# a fresh fit). Median of measured / modelled - 1, never negative. A framework whose rows of a group come from
# fewer than two sources gets the pooled one, "*/group", fitted on every framework's rows.
CALIBRATED_OVERHEAD = {
    "*/bf16": (0.021, "25 rows of TTL2, TTM, TTLT, TTOPT, LGRT, LGCH, AA"),
    "*/full_sharded": (0.250, "2 rows of TTL2, TTM"),
    "*/qlora": (0.068, "24 rows of TTM, LGRT, LGCH, AA, AX, AXL"),
    "axolotl/qlora": (0.000, "AX-06/08/09, AXL-01"),
    "litgpt/bf16": (0.036, "LGRT-07/10/12, LGCH-02/05/07/09/11/20/22"),
    "litgpt/qlora": (0.067, "LGRT-08/09/13, LGCH-03/06/08/10/12/17/21/23"),
    "torchtune/bf16": (0.001, "TTL2-02/03, TTM-02/03, TTLT-01/02/03/04, TTOPT-02"),
    "torchtune/full_sharded": (0.250, "TTL2-05, TTM-05"),
}


def job_stack(spec: TrainSpec, parallelism: Parallelism) -> Stack:
    """The bundled job (tunecost.job), derived from its contract: nothing restated here."""
    st = contract.storage(Method(spec.method).value, Precision(spec.precision).value, parallelism.value)
    return Stack(name="tunecost", full_master_fp32=st.master_fp32,
                 adapter_bytes=int(contract.DTYPE_BYTES[st.trainable]),
                 qlora_rest_fp32=st.rest == "fp32" and st.compute != "fp32", logits_bytes_per_vocab=12,
                 lora_dropout=contract.DEFAULTS.dropout > 0, double_quant=st.double_quant,
                 loss=LossKernel.chunked if st.loss == "chunked" else LossKernel.torch,
                 adapter_copies=st.trainable != st.compute, calibrated=False)


class MemoryEstimate(BaseModel):
    """Peak memory per GPU in GiB, by component, with the assumptions behind it."""

    peak_gib: float               # the expected peak: allocated + allocator slack + CUDA context
    band_gib: tuple[float, float] = (0.0, 0.0)  # where runs like it measured (planner/model/bands.py); the fit uses [1]
    band_basis: str = ""
    reserved_gib: float = 0.0     # allocated + slack: what the job records (torch.cuda.max_memory_reserved)
    components_gib: dict[str, float]
    trainable_params: int
    assumptions: list[str]


def overhead_group(spec: TrainSpec, shards: int, family: str) -> str:
    """Which calibrated overhead applies: the framework's own, for sharded full fine-tunes (their gap scales with
    sharded trainable state), 4-bit runs, else runs on plain 16/32-bit weights (LoRA, single-GPU full, LoRA
    under FSDP)."""
    if spec.method is Method.full and shards > 1:
        return f"{family}/full_sharded"
    return f"{family}/{'qlora' if spec.method is Method.qlora else 'bf16'}"


def _peak_moment(spec: TrainSpec, shape: ModelShape, st: Stack, s: Static, acts: Activations, logits: float,
                 held: Buffers, shards: int, notes: list[str]) -> dict[str, float]:
    """The components (bytes) of the largest moment: start of backward, optimizer step, or model load."""
    static = {"weights": s.weights + s.gathered, "quant_constants": s.quant_consts, "trainable": s.trainable_bytes,
              "master_weights": s.master, "optimizer": s.optim}
    # Gradients alive at the start of backward: all of them when accumulating, else (full fine-tune) only the
    # lm_head / embedding gradient, produced first.
    if spec.method is Method.full and spec.grad_accum == 1:
        grads_at_bwd = min(s.grads, s.param_bytes * shape.vocab_size * shape.hidden_size / shards)
    else:
        grads_at_bwd = s.grads
    backward = {**static, "gradients": grads_at_bwd + s.ddp_buckets, "activations": acts.saved + acts.casts,
                "logits": logits, "dequant_buffer": held.dequant, "previous_batch": held.previous}
    if loss_kernel(spec, st) is LossKernel.chunked:
        # The chunked loss frees its buffers before the first layer's backward recomputes that layer and
        # dequantizes its weights: two moments, the larger one is the backward peak.
        at_layer = {**backward, "logits": 0.0}
        at_loss = {**backward, "activations": acts.saved - acts.recomputed, "dequant_buffer": 0.0}
        backward = at_loss if sum(at_loss.values()) > sum(at_layer.values()) else at_layer
    # In the step the 16-bit autocast copies are gone; gradients and the optimizer temporaries are alive.
    step = {**static, "weights": static["weights"] - (s.weights if s.master else 0.0),
            "gradients": s.grads + s.ddp_buckets, "optimizer": s.optim + s.step_temp,
            "previous_batch": held.previous}
    # Loading, for a stack that quantizes each matrix on the GPU with large temporaries: the quantized model
    # plus the temporaries the caching allocator keeps reserved for training (reserved_transient_elements).
    quantizes = spec.method is Method.qlora and st.quantize_transient_bytes > 0
    load = {**{k: static[k] for k in ("weights", "quant_constants", "trainable")},
            "quantize_transient": float(st.quantize_transient_bytes * reserved_transient_elements(shape))
            if quantizes else 0.0}
    chosen = max((backward, step, load), key=lambda moment: sum(moment.values()))
    if chosen is step:
        notes.append("peak at the optimizer step (gradients + optimizer temporaries exceed activations)")
    elif chosen is load:
        notes.append(f"peak at model load: {st.name} quantizes each matrix with {st.quantize_transient_bytes} B of "
                     "temporaries per element, which the caching allocator keeps reserved for each size larger "
                     "than the ones before it (attention, then MLP)")
    return chosen


def reserved_transient_elements(shape: ModelShape) -> int:
    """Elements whose quantization temporaries stay reserved after load: in load order (a layer's attention, then
    its MLP), a matrix larger than every one before it needs new blocks, since the caching allocator serves a
    request only from a free block at least that large and keeps the smaller ones cached; a matrix no larger
    reuses them (PyTorch's CUDA caching allocator frees nothing back before empty_cache)."""
    record, total = 0, 0
    for rows, cols, _ in shape.linear_shapes().values():
        if rows * cols > record:
            record = rows * cols
            total += record
    return total


def _calibrate(spec: TrainSpec, st: Stack, shards: int, chosen: dict[str, float], notes: list[str]) -> None:
    """Add the framework's calibrated overhead (the gap its published runs leave) to the chosen moment."""
    group = overhead_group(spec, shards, st.overhead_family)
    if group not in CALIBRATED_OVERHEAD:  # no published rows of this framework: every framework's rows
        group = "*/" + group.split("/", 1)[1]
    if st.calibrated and group in CALIBRATED_OVERHEAD:
        fraction, rows = CALIBRATED_OVERHEAD[group]
        chosen["calibrated_overhead"] = fraction * sum(chosen.values())
        notes.append(f"calibrated overhead ({group}): +{fraction:.1%} of the modelled peak, the median gap between "
                     f"this model and {st.overhead_family}'s published peaks it does not explain (fitted on {rows})")
    elif st.calibrated:
        notes.append(f"no published {group} run to fit an overhead on: the modelled tensors alone")
    else:
        notes.append("the job's components are modelled tensor by tensor from its contract and checked against "
                     "a real step on CPU (no fitted overhead)")


def estimate_memory(spec: TrainSpec, shape: ModelShape, gpu_count: int = 1,
                    parallelism: Parallelism = Parallelism.single, stack: Optional[str] = None) -> MemoryEstimate:
    """Peak memory per GPU. FSDP shards weights, gradients and states over gpu_count; DDP replicates them.

    `stack` is how the framework stores things: "tunecost" is the bundled job, from its contract; the STACKS
    (planner/model/frameworks.py) are other frameworks, checked on their published runs. Default: the stack of the
    framework the spec names (spec.framework, planner/model/frameworks.py).
    """
    parallelism = Parallelism(parallelism)
    sharded = parallelism is Parallelism.fsdp and gpu_count > 1
    shards = gpu_count if sharded else 1
    name = stack or stack_name(spec.framework, spec.method)
    st = job_stack(spec, Parallelism.fsdp if sharded else Parallelism.single) if name == "tunecost" else STACKS[name]
    if st.untied_head and shape.tie_word_embeddings:
        shape = shape.model_copy(update={"tie_word_embeddings": False})
    notes: list[str] = [f"framework storage: {st.name}" if stack else framework_note(spec.framework)]
    if st.untied_head and not shape.tie_word_embeddings and name != "tunecost":
        notes.append(f"{st.name} stores lm_head apart from the embedding (a tied checkpoint's head is copied)")

    s = static_memory(spec, shape, st, gpu_count, parallelism, notes)
    acts = activation_memory(spec, shape, st, s, shards, notes)
    logits = loss_buffer_bytes(spec, shape, st, acts.tokens, acts.act_bytes)
    notes.append(loss_note(spec, shape, st))
    held = buffers(spec, shape, st, acts, notes)
    chosen = _peak_moment(spec, shape, st, s, acts, logits, held, shards, notes)
    _calibrate(spec, st, shards, chosen, notes)

    allocated = sum(chosen.values())
    chosen["overhead"] = CUDA_CONTEXT_GIB * GIB + ALLOCATOR_SLACK * allocated
    notes.append(f"GPU-only, assumed: CUDA context {CUDA_CONTEXT_GIB} GiB + {ALLOCATOR_SLACK:.0%} allocator slack "
                 "(the job records torch.cuda.max_memory_reserved = allocated + slack, without the context)")
    comps = {k: round(v / GIB, 6) for k, v in chosen.items() if v > 0 or k in ("weights", "activations")}
    peak = round(sum(chosen.values()) / GIB, 3)
    sure = bands.band(peak, Framework(spec.framework).value, Method(spec.method).value)
    notes.append(f"band {sure.low_gib:.1f}-{sure.high_gib:.1f} GiB: 10th-90th percentile errors of {sure.basis}; "
                 "an offer fits when the band's upper edge does")
    return MemoryEstimate(peak_gib=peak, band_gib=(sure.low_gib, sure.high_gib), band_basis=sure.basis,
                          reserved_gib=round((1 + ALLOCATOR_SLACK) * allocated / GIB, 3), components_gib=comps,
                          trainable_params=int(s.trainable), assumptions=notes)
