"""Peak GPU memory per GPU for a fine-tune: weights, adapters, gradients, optimizer states, activations, logits.

The peak is the larger of two moments of a training step, and the components reported are those of the
peak moment (they sum to peak_gib):
  * start of backward: static memory + all saved activations + the loss buffers (+ gradients already alive);
  * optimizer step: static memory + all gradients + the optimizer's temporaries.
Every constant is an assumption string in the result, so a user can see why a plan fits or not.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel

from tunecost.job import contract
from tunecost.planner.model import activations as act
from tunecost.planner.model import bands
from tunecost.planner.model.frameworks import STACKS, Stack, framework_note, stack_name
from tunecost.planner.model.shapes import ModelShape
from tunecost.planner.spec import Framework, LossKernel, Method, Optimizer, Parallelism, Precision, TrainSpec
from tunecost.planner.model.targets import parse_targets

GIB = 2**30
NF4_BYTES = 0.5                                   # 4-bit NormalFloat payload per weight
NF4_CONST_BYTES = 1 / 64 + 4 / (64 * 256)        # double quant: 8-bit absmax per 64-block + fp32 per 256 blocks
NF4_CONST_BYTES_NO_DQ = 4 / 64                   # plain nf4: one fp32 absmax per 64-block
CUDA_CONTEXT_GIB = 0.8                           # CUDA context + kernels (not seen by torch's allocator)
ALLOCATOR_SLACK = 0.05                           # caching-allocator fragmentation over allocated peak
# The job's chunked loss (job/loss.py) at its peak, the backward of one chunk, per logit of the chunk: the fp32
# log-softmax it recomputes, the incoming and the outgoing fp32 gradient (measured on CPU, slope over chunk
# sizes: 11.8 B; tests/planner/test_memory_job_cpu.py).
LOSS_CHUNK_PEAK_BYTES = 12
LOSS_HIDDEN_COPIES = 4      # hidden states of the labelled tokens gathered, their gradient, and the scattered one
# Liger's fused linear cross-entropy (liger_kernel/ops/fused_linear_cross_entropy.py): chunks of about
# tokens x hidden / vocab rows, the input gradient kept whole. Slope of its op memory over tokens for a frozen-free
# Llama-3-8B head (../shared/calibration/techniques_2026-12.csv, Liger benchmark rows, 4k..32k tokens):
# 54 KB per token = 13 B x hidden.
LIGER_BYTES_PER_HIDDEN = 13
# Cut Cross Entropy (apple/ml-cross-entropy cce.py): logits are computed blockwise in SRAM and never stored; the
# backward keeps the hidden states' gradient (compute dtype) and one fp32 log-sum-exp per token. Its README's
# Gemma-2 benchmark (techniques_2026-12.csv): 1.16 GB for 8192 tokens, almost all of it the classifier's gradient.
CCE_LSE_BYTES = 4
FSDP_PREFETCH_LAYERS = 2                         # unsharded layers alive at once under FSDP (current + prefetch)
# What the physics above leaves unexplained on a framework's own published runs, as a fraction of the modelled
# allocated peak, per "framework/group" (see calibration.overhead_group / fit_overheads; a test checks these equal
# a fresh fit). Median of measured / modelled - 1, never negative. A framework whose rows of a group come from
# fewer than two sources gets the pooled one, "*/group", fitted on every framework's rows.
CALIBRATED_OVERHEAD = {
    "*/bf16": (0.043, "25 rows of TTL2, TTM, TTLT, TTOPT, LGRT, LGCH, AA"),
    "*/full_sharded": (0.313, "2 rows of TTL2, TTM"),
    "*/qlora": (0.131, "24 rows of TTM, LGRT, LGCH, AA, AX, AXL"),
    "axolotl/qlora": (0.000, "AX-06/08/09, AXL-01"),
    "litgpt/bf16": (0.043, "LGRT-07/10/12, LGCH-02/05/07/09/11/20/22"),
    "litgpt/qlora": (0.212, "LGRT-08/09/13, LGCH-03/06/08/10/12/17/21/23"),
    "torchtune/bf16": (0.001, "TTL2-02/03, TTM-02/03, TTLT-01/02/03/04, TTOPT-02"),
    "torchtune/full_sharded": (0.313, "TTL2-05, TTM-05"),
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


def loss_kernel(spec: TrainSpec, st: Stack) -> LossKernel:
    """The loss the run computes: the spec's --loss-kernel, else the framework's default (the bundled job always
    runs its own, from its contract)."""
    return st.loss if st.name == "tunecost" or spec.loss_kernel is None else LossKernel(spec.loss_kernel)


def loss_buffer_bytes(spec: TrainSpec, shape: ModelShape, st: Stack, tokens: int, act_bytes: int) -> float:
    """The loss's own memory at the backward peak: the whole [tokens x vocab] fp32 picture for torch's loss, one
    chunk of it plus the gathered hidden states for the job's chunked loss, hidden-sized buffers for the fused
    kernels (Liger, Cut Cross Entropy) that never hold full-vocabulary logits."""
    kernel = loss_kernel(spec, st)
    if kernel is LossKernel.torch:
        return float(st.logits_bytes_per_vocab * shape.vocab_size * tokens)
    if kernel is LossKernel.liger:
        return float(LIGER_BYTES_PER_HIDDEN * shape.hidden_size * tokens)
    if kernel is LossKernel.cce:
        return float((act_bytes * shape.hidden_size + CCE_LSE_BYTES) * tokens)
    chunk = min(tokens, contract.loss_chunk_tokens(shape.vocab_size))
    return float(LOSS_CHUNK_PEAK_BYTES * chunk * shape.vocab_size
                 + LOSS_HIDDEN_COPIES * act_bytes * shape.hidden_size * tokens)


class MemoryEstimate(BaseModel):
    """Peak memory per GPU in GiB, by component, with the assumptions behind it."""

    peak_gib: float               # the expected peak: allocated + allocator slack + CUDA context
    band_gib: tuple[float, float] = (0.0, 0.0)  # where runs like it measured (planner/model/bands.py); the fit uses [1]
    band_basis: str = ""
    reserved_gib: float = 0.0     # allocated + slack: what the job records (torch.cuda.max_memory_reserved)
    components_gib: dict[str, float]
    trainable_params: int
    assumptions: list[str]


def _compute_bytes(precision: Precision) -> int:
    return 4 if precision is Precision.fp32 else 2


def _adapter_params(spec: TrainSpec, shape: ModelShape) -> tuple[int, frozenset[str]]:
    """LoRA A (in x r) + B (r x out) for every adapted projection of every layer (+ lm_head if asked)."""
    kinds = parse_targets(spec.targets)
    total = 0
    for kind, (i, o, n) in shape.linear_shapes().items():
        if kind in kinds:
            total += spec.rank * (i + o) * n * shape.num_layers
    if "lm_head" in kinds:
        total += spec.rank * (shape.hidden_size + shape.vocab_size)
    return total, kinds


def _adafactor_bytes(spec: TrainSpec, shape: ModelShape, trainable: int) -> float:
    """Adafactor keeps one fp32 row + column vector per matrix (no momentum): about 4 x (rows + cols)."""
    if spec.method is Method.full:
        per_layer = sum((i + o) * n for i, o, n in shape.linear_shapes().values())
        emb = (shape.vocab_size + shape.hidden_size) * (1 if shape.tie_word_embeddings else 2)
        return 4.0 * (per_layer * shape.num_layers + emb)
    if spec.method is Method.prompt_tuning:
        return 4.0 * (spec.virtual_tokens + shape.hidden_size)
    return 4.0 * trainable / spec.rank  # LoRA A (in x r), B (r x out): about (in + out) per adapter


def overhead_group(spec: TrainSpec, shards: int, family: str) -> str:
    """Which calibrated overhead applies: the framework's own, for sharded full fine-tunes (their gap scales with
    sharded trainable state), 4-bit runs, else runs on plain 16/32-bit weights (LoRA, single-GPU full, LoRA
    under FSDP)."""
    if spec.method is Method.full and shards > 1:
        return f"{family}/full_sharded"
    return f"{family}/{'qlora' if spec.method is Method.qlora else 'bf16'}"


def estimate_memory(spec: TrainSpec, shape: ModelShape, gpu_count: int = 1,
                    parallelism: Parallelism = Parallelism.single, stack: Optional[str] = None) -> MemoryEstimate:
    """Peak memory per GPU. FSDP shards weights, gradients and states over gpu_count; DDP replicates them.

    `stack` is how the framework stores things: "tunecost" is the bundled job, from its contract; the STACKS
    (planner/model/frameworks.py) are other frameworks, checked on their published runs. Default: the stack of the
    framework the spec names (spec.framework, planner/model/frameworks.py).
    """
    parallelism = Parallelism(parallelism)
    sharded = parallelism is Parallelism.fsdp and gpu_count > 1
    name = stack or stack_name(spec.framework, spec.method)
    st = job_stack(spec, Parallelism.fsdp if sharded else Parallelism.single) if name == "tunecost" else STACKS[name]
    a = _compute_bytes(spec.precision)
    mixed = spec.precision in (Precision.bf16_mixed, Precision.fp16)
    # litgpt bf16-mixed: the frozen base stays fp32 as well (litgpt refuses --quantize with mixed precision, so a
    # QLoRA there runs bf16-true)
    fp32_params = mixed and st.mixed_fp32_params and spec.method is not Method.qlora
    total = shape.total_params()
    notes: list[str] = [f"framework storage: {st.name}" if stack else framework_note(spec.framework)]
    method = spec.method
    shards = gpu_count if parallelism is Parallelism.fsdp and gpu_count > 1 else 1

    # ---- weights and trainable parameters (bytes)
    adapted: frozenset[str] = frozenset()
    quant_consts = master = trainable_bytes = 0.0
    if method is Method.full:
        trainable = total
        if mixed and (st.full_master_fp32 or fp32_params or spec.precision is Precision.fp16):
            param_bytes, weights, master = 4, 2.0 * total, 4.0 * total
            notes.append(f"full {spec.precision.value} mixed precision: fp32 master weights, grads and states; "
                         "16-bit autocast copies of the weights kept for backward")
        else:
            param_bytes, weights = a, float(a * total)
            notes.append(f"full {spec.precision.value}: weights, grads and optimizer states in {spec.precision.value}")
    else:
        param_bytes = 4 if spec.precision is Precision.fp32 or fp32_params else st.adapter_bytes
        if st.pure_bf16_adapters and spec.precision is Precision.bf16:
            param_bytes = 2
        if method is Method.prompt_tuning:
            trainable = spec.virtual_tokens * shape.hidden_size
            notes.append(f"prompt tuning: {spec.virtual_tokens} virtual tokens x hidden {shape.hidden_size} trainable")
        else:
            trainable, adapted = _adapter_params(spec, shape)
            notes.append(f"LoRA r={spec.rank} on {','.join(sorted(adapted))}: {trainable:,} trainable params")
        notes.append(f"adapter parameters, grads and states in {8 * param_bytes}-bit")
        trainable_bytes = float(param_bytes * trainable)
        if method is Method.qlora:
            linear = shape.num_layers * shape.layer_linear_params()
            head = st.quantized_head and not shape.tie_word_embeddings
            linear += shape.vocab_size * shape.hidden_size if head else 0
            rest_b = 4 if st.qlora_rest_fp32 else a
            weights = NF4_BYTES * linear + rest_b * (total - linear)
            const = NF4_CONST_BYTES if st.double_quant else NF4_CONST_BYTES_NO_DQ
            quant_consts = const * linear
            notes.append(f"QLoRA: {'decoder linears + lm_head' if head else 'decoder linears'} NF4 (0.5 B/param) "
                         f"with {'double-quant ' if st.double_quant else 'fp32 absmax '}constants ({const:.4f} "
                         f"B/param); the other params (embeddings, norms{'' if head else ', lm_head'}) in {8 * rest_b}-bit")
            if st.qlora_rest_fp32:
                notes.append("prepare_model_for_kbit_training upcasts norms/embeddings/lm_head to fp32, so the "
                             "residual stream and what autograd saves of it are fp32 (measured on CPU)")
        elif fp32_params:
            weights = 4.0 * total
            notes.append(f"frozen base weights in fp32 ({spec.precision.value} keeps every parameter fp32 in "
                         f"{st.name}; autocast makes a 16-bit copy of each weight a matmul saves for backward)")
        else:
            weights = float(a * total)
            notes.append(f"frozen base weights in {spec.precision.value} ({a} B/param)")
    grads = float(param_bytes * trainable)

    # ---- optimizer states and step temporaries
    facts = contract.OPTIMIZERS[spec.optimizer]  # what the optimizer keeps per parameter (the job's own table)
    step_temp = facts.step_temporaries * param_bytes * trainable
    if facts.factored:
        optim = _adafactor_bytes(spec, shape, trainable)
        notes.append("Adafactor: factored second moment (fp32 row + column per matrix), no momentum")
    else:
        optim = (facts.param_dtype_states * param_bytes + facts.state_bytes) * trainable
        kept = (f"{facts.param_dtype_states:g} states x {param_bytes} B" if facts.param_dtype_states
                else f"{facts.state_bytes:g} B of state")
        temps = ", one state-sized temporary in the step" if facts.step_temporaries else ""
        notes.append(f"{spec.optimizer.value}: {kept} per trainable param{temps}")
    if facts.cuda_only:
        notes.append("paged optimizer states counted on the GPU (they page to CPU only under memory pressure)")

    # ---- sharding / replication
    gathered = ddp_buckets = 0.0
    if shards > 1:
        weights, quant_consts, trainable_bytes, grads, optim, master, step_temp = (
            x / shards for x in (weights, quant_consts, trainable_bytes, grads, optim, master, step_temp))
        per_param = NF4_BYTES + NF4_CONST_BYTES if method is Method.qlora else a
        gathered = FSDP_PREFETCH_LAYERS * shape.layer_linear_params() * per_param
        notes.append(f"FSDP over {shards} GPUs: weights, grads, states sharded; {FSDP_PREFETCH_LAYERS} layers "
                     "gathered unsharded at a time")
    elif parallelism is Parallelism.ddp and gpu_count > 1:
        ddp_buckets = grads
        notes.append("DDP: full replica per GPU + gradient buckets (one more gradient-sized buffer)")

    # ---- activations and logits (per GPU micro batch)
    tokens = spec.micro_batch * (spec.seq_len + (spec.virtual_tokens if method is Method.prompt_tuning else 0))
    lora_kinds = adapted if (st.lora_dropout or st.adapter_copies) else frozenset()
    if method is Method.qlora and st.qlora_rest_fp32 and a == 2:
        a = 4  # fp32 norms make every layer input fp32; 4-bit linears return their input's dtype
    input_bytes = a + (act.LORA_DROPOUT_MASK_BYTES if st.lora_dropout else 0)
    full_layer = act.layer_bytes_per_token(shape, a, method is Method.full, lora_kinds, input_bytes,
                                           spec.rank if st.name == "tunecost" else 0)
    if method is Method.qlora and st.nf4_keeps_inputs:
        full_layer += act.linear_inputs_bytes_per_token(shape, a)
    if spec.gradient_checkpointing:
        resid = 4 if master or fp32_params else a  # fp32 embeddings and norms keep the residual stream fp32
        per_token = shape.num_layers * act.checkpointed_layer_bytes_per_token(shape, resid) + full_layer
        notes.append("gradient checkpointing: each layer keeps its input; one layer is recomputed at a time")
    else:
        per_token = shape.num_layers * full_layer
    per_token += act.head_bytes_per_token(shape, a, method is Method.full, "lm_head" in lora_kinds)
    activations = float(per_token * tokens)
    recomputed = float(full_layer * tokens) if spec.gradient_checkpointing else 0.0
    logits = loss_buffer_bytes(spec, shape, st, tokens, a)
    # autocast's 16-bit copies of fp32 frozen weights, saved by each matmul for backward (one layer's when
    # checkpointing recomputes layer by layer)
    casts = 0.0
    if fp32_params and method is not Method.full:
        layers = 1 if spec.gradient_checkpointing else shape.num_layers
        casts = 2.0 * layers * shape.layer_linear_params() / shards
    notes.append(f"activations: {tokens:,} tokens per micro batch in {8 * a}-bit, SDPA/flash attention "
                 "(no seq^2 buffer)")
    kernel = loss_kernel(spec, st)
    if kernel is LossKernel.chunked:
        notes.append(f"loss: chunked linear + cross-entropy, {contract.loss_chunk_tokens(shape.vocab_size):,} "
                     f"tokens a chunk ({LOSS_CHUNK_PEAK_BYTES} B x vocab per chunk token at its backward) + the "
                     "hidden states it gathers; no full-vocabulary logits (liger-kernel's fused kernel on CUDA "
                     "where installed: assumed no larger)")
    elif kernel is LossKernel.liger:
        notes.append(f"loss: Liger fused linear cross-entropy, chunked logits ({LIGER_BYTES_PER_HIDDEN} B x hidden "
                     "per token, Liger's benchmark); no full-vocabulary logits")
    elif kernel is LossKernel.cce:
        notes.append("loss: Cut Cross Entropy, logits never stored (hidden-state gradient + fp32 log-sum-exp per "
                     "token)")
    else:
        notes.append(f"loss: lm_head then torch cross-entropy, {st.logits_bytes_per_vocab} B x vocab per token at "
                     "the backward peak (full-vocabulary logits)")

    # ---- dequantization buffer: a 4-bit matmul dequantizes its whole weight to the compute dtype (forward for
    # more than a few rows, backward always), one weight at a time
    dequant = 0.0
    if method is Method.qlora:
        biggest = max(i * o for i, o, _ in shape.linear_shapes().values())
        if st.quantized_head and not shape.tie_word_embeddings:
            biggest = max(biggest, shape.vocab_size * shape.hidden_size)
        dequant = float(_compute_bytes(spec.precision) * biggest)
        notes.append(f"4-bit dequantization buffer: the largest quantized matrix in {spec.precision.value} "
                     f"({biggest:,} elements)")

    # ---- the two candidate peaks
    static = {"weights": weights + gathered, "quant_constants": quant_consts, "trainable": trainable_bytes,
              "master_weights": master, "optimizer": optim}
    # Gradients alive at the start of backward: all of them when accumulating, else (full fine-tune) only the
    # lm_head / embedding gradient, produced first.
    if method is Method.full and spec.grad_accum == 1:
        grads_at_bwd = min(grads, param_bytes * shape.vocab_size * shape.hidden_size / shards)
    else:
        grads_at_bwd = grads
    backward = {**static, "gradients": grads_at_bwd + ddp_buckets, "activations": activations + casts,
                "logits": logits, "dequant_buffer": dequant}
    if kernel is LossKernel.chunked:
        # The chunked loss frees its buffers before the first layer's backward recomputes that layer and
        # dequantizes its weights: two moments, the larger one is the backward peak.
        at_layer = {**backward, "logits": 0.0}
        at_loss = {**backward, "activations": activations - recomputed, "dequant_buffer": 0.0}
        backward = at_loss if sum(at_loss.values()) > sum(at_layer.values()) else at_layer
    # In the step the 16-bit autocast copies are gone; gradients and the optimizer temporaries are alive.
    step = {**static, "weights": static["weights"] - (weights if master else 0.0),
            "gradients": grads + ddp_buckets, "optimizer": optim + step_temp}
    chosen = backward if sum(backward.values()) >= sum(step.values()) else step
    if chosen is step:
        notes.append("peak at the optimizer step (gradients + optimizer temporaries exceed activations)")
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
    allocated = sum(chosen.values())
    chosen["overhead"] = CUDA_CONTEXT_GIB * GIB + ALLOCATOR_SLACK * allocated
    notes.append(f"GPU-only, assumed: CUDA context {CUDA_CONTEXT_GIB} GiB + {ALLOCATOR_SLACK:.0%} allocator slack "
                 "(the job records torch.cuda.max_memory_reserved = allocated + slack, without the context)")
    comps = {k: round(v / GIB, 6) for k, v in chosen.items() if v > 0 or k in ("weights", "activations")}
    peak = round(sum(chosen.values()) / GIB, 3)
    sure = bands.band(peak, Framework(spec.framework).value, Method(method).value)
    notes.append(f"band {sure.low_gib:.1f}-{sure.high_gib:.1f} GiB: 10th-90th percentile errors of {sure.basis}; "
                 "an offer fits when the band's upper edge does")
    return MemoryEstimate(peak_gib=peak, band_gib=(sure.low_gib, sure.high_gib), band_basis=sure.basis,
                          reserved_gib=round((1 + ALLOCATOR_SLACK) * allocated / GIB, 3), components_gib=comps,
                          trainable_params=int(trainable), assumptions=notes)
