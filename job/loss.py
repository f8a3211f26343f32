"""The job's loss: linear + cross-entropy in chunks, so no [tokens x vocab] fp32 logits tensor ever exists.

HF's loss upcasts the full logits to fp32 and cross-entropy keeps an fp32 log-softmax: with a 128k vocabulary
that is 12 B x 128k per token at the backward peak, often the biggest thing in a LoRA step. Here the model runs
with its lm_head fed zero tokens (a forward pre-hook keeps the final hidden states instead), then the lm_head
and cross-entropy run on chunks of contract.loss_chunk_tokens(vocab) tokens, each chunk checkpointed (recomputed
in backward). On CUDA, liger-kernel's fused linear cross-entropy does the same in one kernel where it is
installed and the lm_head is a plain linear layer (not LoRA-adapted, not 4-bit).
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .contract import loss_chunk_tokens

IGNORE = -100


@contextlib.contextmanager
def head_inputs(head: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """Inside the block the lm_head computes logits for no token; its would-be input lands in the list."""
    captured: list[torch.Tensor] = []

    def keep_and_skip(_module, args):
        captured.append(args[0])
        return (args[0][..., :0, :],) + tuple(args[1:])

    handle = head.register_forward_pre_hook(keep_and_skip)
    try:
        yield captured
    finally:
        handle.remove()


def _chunk_loss(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")


def _liger():
    try:
        from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss
    except ImportError:
        return None
    return LigerFusedLinearCrossEntropyLoss


def summed_loss(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum of the token losses of `hidden` [n, h] against `targets` [n] (all valid), in chunks."""
    fused = _liger() if hidden.is_cuda and type(head) is torch.nn.Linear else None
    if fused is not None:
        return fused(reduction="sum")(head.weight, hidden, targets, head.bias)
    step = loss_chunk_tokens(head.out_features if hasattr(head, "out_features") else head.weight.shape[0])
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], step):
        total = total + checkpoint(_chunk_loss, head, hidden[start:start + step], targets[start:start + step],
                                   use_reentrant=False)
    return total


def causal_lm_loss(head: torch.nn.Module, hidden: torch.Tensor, labels: torch.Tensor,
                   num_items: Optional[torch.Tensor] = None) -> torch.Tensor:
    """HF's causal LM loss (tokens < n predict n; mean over labelled tokens, or sum / num_items when the
    Trainer accumulates), from the final hidden states [b, s, h]. Prompt tuning prepends virtual tokens to the
    hidden states: they carry no label."""
    extra = hidden.shape[1] - labels.shape[1]
    if extra > 0:
        labels = F.pad(labels, (extra, 0), value=IGNORE)
    shifted = F.pad(labels[:, 1:], (0, 1), value=IGNORE).reshape(-1).to(hidden.device)
    keep = (shifted != IGNORE).nonzero().squeeze(1)
    flat = hidden.reshape(-1, hidden.shape[-1])
    total = summed_loss(head, flat.index_select(0, keep), shifted.index_select(0, keep))
    count = num_items if num_items is not None else keep.numel()
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count
