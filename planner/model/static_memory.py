"""What a fine-tune keeps on the GPU whatever the batch: weights (16-bit, fp32 or 4-bit with its constants),
trainable parameters, their gradients, master copies and optimizer states, sharded or replicated per GPU.

Split out of memory.py: these terms depend on the method, precision and stack, never on the tokens.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tunecost.job import contract
from tunecost.planner.model.frameworks import Stack
from tunecost.planner.model.shapes import ModelShape
from tunecost.planner.model.targets import parse_targets
from tunecost.planner.spec import Method, Parallelism, Precision, TrainSpec

NF4_BYTES = 0.5                                   # 4-bit NormalFloat payload per weight
NF4_CONST_BYTES = 1 / 64 + 4 / (64 * 256)        # double quant: 8-bit absmax per 64-block + fp32 per 256 blocks
NF4_CONST_BYTES_NO_DQ = 4 / 64                   # plain nf4: one fp32 absmax per 64-block
FSDP_PREFETCH_LAYERS = 2                         # unsharded layers alive at once under FSDP (current + prefetch)


class Static(BaseModel):
    """Bytes per GPU that do not depend on the batch, and what the activation terms need to know of them."""

    model_config = ConfigDict(frozen=True)

    trainable: int                 # trainable parameters (whole model, not per GPU)
    adapted: frozenset[str]        # projection kinds carrying LoRA adapters
    param_bytes: int               # bytes per trainable parameter (and its gradient)
    fp32_params: bool              # the frozen base is kept in fp32 (bf16-mixed in a stack that does so)
    weights: float                 # this GPU's share of the stored weights (autocast copies of a mixed full run incl.)
    gathered: float                # the unsharded layers FSDP gathers
    quant_consts: float
    trainable_bytes: float
    master: float
    grads: float
    optim: float
    step_temp: float               # the optimizer step's temporaries
    ddp_buckets: float


def compute_bytes(precision: Precision) -> int:
    return 4 if precision is Precision.fp32 else 2


def adapter_params(spec: TrainSpec, shape: ModelShape) -> tuple[int, frozenset[str]]:
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


def _frozen_weights(spec: TrainSpec, shape: ModelShape, st: Stack, fp32_params: bool,
                    notes: list[str]) -> tuple[float, float]:
    """An adapter run's frozen base: (weight bytes, 4-bit quantization constant bytes)."""
    a, total = compute_bytes(spec.precision), shape.total_params()
    if spec.method is Method.qlora:
        linear = shape.num_layers * shape.layer_linear_params()
        head = st.quantized_head and not shape.tie_word_embeddings
        linear += shape.vocab_size * shape.hidden_size if head else 0
        rest_b = 4 if st.qlora_rest_fp32 else a
        const = NF4_CONST_BYTES if st.double_quant else NF4_CONST_BYTES_NO_DQ
        notes.append(f"QLoRA: {'decoder linears + lm_head' if head else 'decoder linears'} NF4 (0.5 B/param) "
                     f"with {'double-quant ' if st.double_quant else 'fp32 absmax '}constants ({const:.4f} "
                     f"B/param); the other params (embeddings, norms{'' if head else ', lm_head'}) in {8 * rest_b}-bit")
        if st.qlora_rest_fp32:
            notes.append("prepare_model_for_kbit_training upcasts norms/embeddings/lm_head to fp32, so the "
                         "residual stream and what autograd saves of it are fp32 (measured on CPU)")
        return NF4_BYTES * linear + rest_b * (total - linear), const * linear
    if fp32_params:
        notes.append(f"frozen base weights in fp32 ({spec.precision.value} keeps every parameter fp32 in "
                     f"{st.name}; autocast makes a 16-bit copy of each weight a matmul saves for backward)")
        return 4.0 * total, 0.0
    notes.append(f"frozen base weights in {spec.precision.value} ({a} B/param)")
    return float(a * total), 0.0


def _optimizer(spec: TrainSpec, shape: ModelShape, trainable: int, param_bytes: int,
               notes: list[str]) -> tuple[float, float]:
    """(optimizer state bytes, the step's temporaries), from the job's own table (job/contract.py OPTIMIZERS)."""
    facts = contract.OPTIMIZERS[spec.optimizer]
    if facts.cuda_only:
        notes.append("paged optimizer states counted on the GPU (they page to CPU only under memory pressure)")
    if facts.factored:
        notes.append("Adafactor: factored second moment (fp32 row + column per matrix), no momentum")
        return _adafactor_bytes(spec, shape, trainable), 0.0
    kept = (f"{facts.param_dtype_states:g} states x {param_bytes} B" if facts.param_dtype_states
            else f"{facts.state_bytes:g} B of state")
    temps = ", one state-sized temporary in the step" if facts.step_temporaries else ""
    notes.append(f"{spec.optimizer.value}: {kept} per trainable param{temps}")
    return ((facts.param_dtype_states * param_bytes + facts.state_bytes) * trainable,
            facts.step_temporaries * param_bytes * trainable)


def static_memory(spec: TrainSpec, shape: ModelShape, st: Stack, gpu_count: int, parallelism: Parallelism,
                  notes: list[str]) -> Static:
    """Weights, trainable parameters, gradients, master copies and optimizer states per GPU (assumptions appended
    to notes)."""
    a, total, method = compute_bytes(spec.precision), shape.total_params(), spec.method
    mixed = spec.precision in (Precision.bf16_mixed, Precision.fp16)
    # litgpt bf16-mixed: the frozen base stays fp32 as well (litgpt refuses --quantize with mixed precision, so a
    # QLoRA there runs bf16-true)
    fp32_params = mixed and st.mixed_fp32_params and method is not Method.qlora
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
            trainable, adapted = adapter_params(spec, shape)
            notes.append(f"LoRA r={spec.rank} on {','.join(sorted(adapted))}: {trainable:,} trainable params")
        notes.append(f"adapter parameters, grads and states in {8 * param_bytes}-bit")
        trainable_bytes = float(param_bytes * trainable)
        weights, quant_consts = _frozen_weights(spec, shape, st, fp32_params, notes)
    grads = float(param_bytes * trainable)
    optim, step_temp = _optimizer(spec, shape, trainable, param_bytes, notes)

    shards = gpu_count if parallelism is Parallelism.fsdp and gpu_count > 1 else 1
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
    return Static(trainable=trainable, adapted=adapted, param_bytes=param_bytes, fp32_params=fp32_params,
                  weights=weights, gathered=gathered, quant_consts=quant_consts, trainable_bytes=trainable_bytes,
                  master=master, grads=grads, optim=optim, step_temp=step_temp, ddp_buckets=ddp_buckets)
