"""What a micro batch adds on the GPU: the activations autograd saves (per layer, with or without
checkpointing), autocast's 16-bit weight copies, the previous micro batch a stack's loop keeps alive, and the
4-bit dequantization buffer.

Split out of memory.py: these terms scale with the tokens of a micro batch (or with one weight matrix).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tunecost.planner.model import activations as act
from tunecost.planner.model.frameworks import Stack
from tunecost.planner.model.shapes import ModelShape
from tunecost.planner.model.static_memory import Static, compute_bytes
from tunecost.planner.spec import Method, TrainSpec


class Activations(BaseModel):
    """Bytes per GPU saved for backward by one micro batch."""

    model_config = ConfigDict(frozen=True)

    tokens: int              # per micro batch
    act_bytes: int           # element size of the activations (fp32 where the stack upcasts the residual stream)
    saved: float             # every layer's saved tensors (checkpoints + one recomputed layer when checkpointing)
    recomputed: float        # the recomputed layer's share of `saved` (0 without checkpointing)
    casts: float             # autocast's 16-bit copies of fp32 frozen weights


class Buffers(BaseModel):
    """Buffers beside the saved activations at the backward peak."""

    model_config = ConfigDict(frozen=True)

    previous: float          # the previous micro batch a stack's loop keeps alive
    dequant: float           # one 4-bit matrix dequantized to the compute dtype


def activation_memory(spec: TrainSpec, shape: ModelShape, st: Stack, static: Static, shards: int,
                      notes: list[str]) -> Activations:
    """Saved activations of one micro batch per GPU (assumptions appended to notes)."""
    method = spec.method
    a = compute_bytes(spec.precision)
    tokens = spec.micro_batch * (spec.seq_len + (spec.virtual_tokens if method is Method.prompt_tuning else 0))
    lora_kinds = static.adapted if (st.lora_dropout or st.adapter_copies) else frozenset()
    if method is Method.qlora and st.qlora_rest_fp32 and a == 2:
        a = 4  # fp32 norms make every layer input fp32; 4-bit linears return their input's dtype
    input_bytes = a + (act.LORA_DROPOUT_MASK_BYTES if st.lora_dropout else 0)
    full_layer = act.layer_bytes_per_token(shape, a, method is Method.full, lora_kinds, input_bytes,
                                           spec.rank if st.name == "tunecost" else 0)
    if method is Method.qlora and st.nf4_keeps_inputs:
        full_layer += act.linear_inputs_bytes_per_token(shape, a)
    eager = st.eager_softcap_attention and shape.attn_logit_softcapping is not None
    if eager:
        full_layer += act.eager_attention_bytes_per_token(shape, spec.seq_len)
    if spec.gradient_checkpointing:
        resid = 4 if static.master or static.fp32_params else a  # fp32 embeddings and norms: fp32 residual stream
        per_token = shape.num_layers * act.checkpointed_layer_bytes_per_token(shape, resid) + full_layer
        notes.append("gradient checkpointing: each layer keeps its input; one layer is recomputed at a time")
    else:
        per_token = shape.num_layers * full_layer
    per_token += act.head_bytes_per_token(shape, a, method is Method.full, "lm_head" in lora_kinds)
    # autocast's 16-bit copies of fp32 frozen weights, saved by each matmul for backward (one layer's when
    # checkpointing recomputes layer by layer)
    casts = 0.0
    if static.fp32_params and method is not Method.full:
        layers = 1 if spec.gradient_checkpointing else shape.num_layers
        casts = 2.0 * layers * shape.layer_linear_params() / shards
    notes.append(f"activations: {tokens:,} tokens per micro batch in {8 * a}-bit, " + (
        f"eager attention ({st.name} cannot fuse soft-capped scores: {act.eager_attention_bytes_per_token(shape, spec.seq_len):,} "
        "B per token and layer of scores)" if eager else "SDPA/flash attention (no seq^2 buffer)"))
    return Activations(tokens=tokens, act_bytes=a, saved=float(per_token * tokens),
                       recomputed=float(full_layer * tokens) if spec.gradient_checkpointing else 0.0, casts=casts)


def buffers(spec: TrainSpec, shape: ModelShape, st: Stack, acts: Activations, notes: list[str]) -> Buffers:
    """The previous micro batch a stack keeps, and the dequantization buffer (assumptions appended to notes)."""
    method = spec.method
    # the previous micro batch, alive at this one's peak: its logits, and the inputs its 4-bit matmuls kept on ctx
    # (not freed by backward) where the stack's bitsandbytes does that
    previous = 0.0
    if st.previous_graph:
        logit_bytes = compute_bytes(spec.precision) * shape.vocab_size
        kept = 0
        if method is Method.qlora and st.nf4_keeps_inputs:
            layers = 1 if spec.gradient_checkpointing else shape.num_layers
            kept = layers * act.linear_inputs_bytes_per_token(shape, acts.act_bytes)
        previous = float((logit_bytes + kept) * acts.tokens)
        notes.append(f"{st.name}'s loop keeps the previous micro batch's graph until the next forward ends: its "
                     f"logits{' and the inputs its 4-bit matmuls kept' if kept else ''} (a batch as long as this "
                     "one assumed)")
    # a 4-bit matmul dequantizes its whole weight to the compute dtype (forward for more than a few rows, backward
    # always), one weight at a time
    dequant = 0.0
    biggest = 0
    if method is Method.qlora:
        biggest = max(i * o for i, o, _ in shape.linear_shapes().values())
        if st.quantized_head and not shape.tie_word_embeddings:
            biggest = max(biggest, shape.vocab_size * shape.hidden_size)
        dequant = float(compute_bytes(spec.precision) * biggest)
        notes.append(f"4-bit dequantization buffer: the largest quantized matrix in {spec.precision.value} "
                     f"({biggest:,} elements)")
    return Buffers(previous=previous, dequant=dequant)
