"""Saved-activation and logits bytes per token, counted tensor by tensor from what autograd keeps.

Why count tensors instead of using a rule of thumb: frozen base weights (LoRA/QLoRA) change WHICH tensors
autograd saves (a frozen linear keeps no input), gated MLPs and big vocabularies dominate modern models,
and the CPU measurement test checks these numbers against torch's own memory tracker.
Layout assumed: HF Llama-style decoder (RMSNorm computed in fp32, SDPA/flash attention with no seq^2 buffer).
"""

from __future__ import annotations

from tunecost.planner.model.shapes import ModelShape

LORA_DROPOUT_MASK_BYTES = 1  # PEFT lora_dropout > 0 keeps a bool mask per adapted input (on CUDA)


def layer_bytes_per_token(shape: ModelShape, act_bytes: int, trainable_base: bool, adapted: frozenset[str],
                          adapter_input_bytes: int | None = None, rank: int = 0) -> int:
    """Bytes one decoder layer saves for backward, per token, without checkpointing.

    act_bytes: element size of activations (2 for bf16/fp16, 4 for fp32).
    trainable_base: full fine-tune (linears keep their inputs for weight grads).
    adapted: projection kinds carrying LoRA adapters that keep their own copy of their input: a dropout output
    (+ its mask) or, for fp32 adapters under 16-bit autocast, the cast copy; adapter_input_bytes per element
    (default: act_bytes + the dropout mask). rank: each adapter's B also keeps A's output (rank wide).
    """
    h, q, kv = shape.hidden_size, shape.q_dim, shape.kv_dim
    inter = shape.moe_intermediate_size if shape.is_moe else shape.intermediate_size
    copies = shape.experts_per_token if shape.is_moe else 1
    a = act_bytes
    # Two RMSNorms: the fp32 upcast of their input; with trainable weights also the normalized input and the
    # output (kept as the next linear's input).
    norms = 2 * (4 * h + (2 * a * h if trainable_base else 0))
    # SDPA keeps q, k, v (after RoPE) and its output; o_proj keeps a contiguous copy when trained.
    attn = a * (2 * q + 2 * kv) + (a * q if trainable_base else 0)
    if shape.mlp == "gated":
        # act(gate) keeps gate out; mul keeps act out and up out; down keeps the product when trained.
        mlp = a * inter * (4 if trainable_base else 3)
    else:
        mlp = a * inter * (2 if trainable_base else 1)
    mlp *= copies
    ins = {kind: i for kind, (i, _, _) in shape.linear_shapes(active=True).items()}
    per_copy = {kind: (copies if kind in ("gate", "up", "down") else 1) for kind in ins}
    each = a + LORA_DROPOUT_MASK_BYTES if adapter_input_bytes is None else adapter_input_bytes
    lora = sum((each * ins[k] + a * rank) * per_copy[k] for k in adapted if k in ins)
    return norms + attn + mlp + lora


def eager_attention_bytes_per_token(shape: ModelShape, seq_len: int) -> int:
    """Scores an eager (unfused) attention keeps per token of one layer, for a model whose soft-capped scores rule
    out SDPA (litgpt model.py scaled_dot_product_attention @00af8b0d): tanh's bf16 output, the fp32 softmax and its
    bf16 cast for `scores @ v`, 8 B per head and key position (the full T x T, the mask added, not skipped)."""
    return 8 * shape.num_heads * seq_len


def linear_inputs_bytes_per_token(shape: ModelShape, act_bytes: int) -> int:
    """Distinct inputs of a layer's linears (q/k/v share one, gate/up share one): what a full fine-tune's
    linears keep, and what old bitsandbytes 4-bit matmuls kept even for frozen weights."""
    inter = shape.moe_intermediate_size if shape.is_moe else shape.intermediate_size
    copies = shape.experts_per_token if shape.is_moe else 1
    return act_bytes * (2 * shape.hidden_size + shape.q_dim + inter * copies)


def checkpointed_layer_bytes_per_token(shape: ModelShape, act_bytes: int) -> int:
    """With gradient checkpointing each layer keeps only its input hidden state."""
    return act_bytes * shape.hidden_size


def head_bytes_per_token(shape: ModelShape, act_bytes: int, trainable_head: bool, adapted_head: bool) -> int:
    """Final norm + lm_head inputs kept for backward (outside the decoder layers)."""
    h = shape.hidden_size
    kept = 4 * h  # final RMSNorm fp32 upcast
    if trainable_head:
        kept += 2 * act_bytes * h
    if adapted_head:
        kept += (act_bytes + LORA_DROPOUT_MASK_BYTES) * h
    return kept
