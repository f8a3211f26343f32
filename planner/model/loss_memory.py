"""The loss's own memory at the backward peak: which loss kernel runs, and what it holds per token.

Split out of memory.py so each loss kernel's bytes sit beside the source they are read from.
"""

from __future__ import annotations

from tunecost.job import contract
from tunecost.planner.model.frameworks import Stack
from tunecost.planner.model.shapes import ModelShape
from tunecost.planner.spec import LossKernel, TrainSpec

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


def loss_note(spec: TrainSpec, shape: ModelShape, st: Stack) -> str:
    """One assumption line: which loss runs and what it keeps."""
    kernel = loss_kernel(spec, st)
    if kernel is LossKernel.chunked:
        return (f"loss: chunked linear + cross-entropy, {contract.loss_chunk_tokens(shape.vocab_size):,} tokens a "
                f"chunk ({LOSS_CHUNK_PEAK_BYTES} B x vocab per chunk token at its backward) + the hidden states it "
                "gathers; no full-vocabulary logits (liger-kernel's fused kernel on CUDA where installed: assumed "
                "no larger)")
    if kernel is LossKernel.liger:
        return (f"loss: Liger fused linear cross-entropy, chunked logits ({LIGER_BYTES_PER_HIDDEN} B x hidden per "
                "token, Liger's benchmark); no full-vocabulary logits")
    if kernel is LossKernel.cce:
        return ("loss: Cut Cross Entropy, logits never stored (hidden-state gradient + fp32 log-sum-exp per "
                "token)")
    return (f"loss: lm_head then torch cross-entropy, {st.logits_bytes_per_vocab} B x vocab per token at the "
            "backward peak (full-vocabulary logits)")
