"""Memory of one training step of the job's own model, by component, measured with torch's own tools.

What the planner models (planner/model/memory.py) is checked against this (tests/planner/test_memory_cpu.py,
benchmarks/lean_job_memory.py): the static tensors are counted from the tensors themselves, saved activations
with autograd's saved-tensor hooks, the loss's own buffers and the whole step's peak from the profiler's memory
timeline on CPU (torch.cuda.max_memory_allocated on a GPU). The step is the Trainer's: autocast where the
contract says, the job's loss (job/loss.py) or HF's (`hf_loss`), backward, optimizer step.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from .loss import causal_lm_loss, head_inputs

MIB = 2**20


@dataclass
class StepMemory:
    """Bytes by component (peak and loss_buffers include what torch's allocator saw, nothing else)."""

    weights: int          # frozen base parameters (4-bit payload as stored) or, for full, all parameters
    quant_constants: int  # bitsandbytes absmax / double-quant state
    trainable: int
    gradients: int
    optimizer: int
    activations: int      # bytes autograd saves in the forward (parameters excluded, storages counted once)
    loss_buffers: int     # peak of the loss alone (forward + backward from the final hidden states)
    peak: int             # peak of the whole step (forward, backward, optimizer step)
    step_seconds: float

    def mib(self) -> dict[str, float]:
        return {k: (round(v / MIB, 3) if k != "step_seconds" else round(v, 3)) for k, v in asdict(self).items()}


def _bytes(tensors) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        if t is not None:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values())


def _quant_tensors(model):
    for p in model.parameters():
        qs = getattr(p, "quant_state", None)
        if qs is not None:
            yield qs.absmax
            if getattr(qs, "nested", False):
                yield qs.state2.absmax


def peak_bytes(fn: Callable[[], None]) -> int:
    """Bytes of tensors alive at the peak while fn runs. CUDA: the allocator's peak (every tensor on the device).
    CPU: the profiler's memory timeline, which sees the tensors fn creates and those it touches."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import MemoryProfileTimeline

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        fn()
    _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline("cpu")
    return max(sum(row) for row in sizes)


def _job_loss(model, ids, labels):
    head = model.get_output_embeddings()
    with head_inputs(head) as hidden:
        model(input_ids=ids)
    return causal_lm_loss(head, hidden[-1], labels)


def hf_loss(model, ids, labels):
    """HF's own loss (full-vocabulary fp32 logits): the 'before' of the benchmark."""
    return model(input_ids=ids, labels=labels).loss


def measure_step(model, ids: torch.Tensor, autocast_dtype, loss=_job_loss, lr: float = 1e-4) -> StepMemory:
    """Two optimizer steps (the first creates the states); the second is measured."""
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr)
    device = "cuda" if ids.is_cuda else "cpu"
    cast = (torch.autocast(device, dtype=autocast_dtype) if autocast_dtype is not None
            else contextlib.nullcontext())

    def step():
        with cast:
            value = loss(model, ids, ids)
        value.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    began = time.perf_counter()
    step()
    seconds = time.perf_counter() - began
    saved: dict[int, int] = {}
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            saved[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), cast:
        value = loss(model, ids, ids)
    value.backward()
    grads = _bytes(p.grad for p in trainable)
    opt.zero_grad(set_to_none=True)
    peak = peak_bytes(step)
    return StepMemory(
        weights=_bytes(p for p in model.parameters() if not p.requires_grad) or _bytes(model.parameters()),
        quant_constants=_bytes(_quant_tensors(model)), trainable=_bytes(trainable), gradients=grads,
        optimizer=_bytes(v for st in opt.state.values() for v in st.values() if torch.is_tensor(v) and v.dim() > 0),
        activations=sum(saved.values()), loss_buffers=loss_peak(model, ids, autocast_dtype, loss is hf_loss),
        peak=peak, step_seconds=seconds)


def loss_peak(model, ids, autocast_dtype, full_logits: bool) -> int:
    """Peak bytes the loss alone adds over the final hidden states it starts from."""
    head = model.get_output_embeddings()
    with torch.no_grad(), head_inputs(head) as hidden:
        model(input_ids=ids)
    h = hidden[-1].detach().requires_grad_()
    device = "cuda" if ids.is_cuda else "cpu"
    cast = torch.autocast(device, dtype=autocast_dtype) if autocast_dtype is not None else contextlib.nullcontext()

    def run():
        with cast:
            if full_logits:  # HF's own causal LM loss over the whole [tokens x vocab] logits
                from transformers.loss.loss_utils import ForCausalLMLoss

                logits = head(h)
                value = ForCausalLMLoss(logits, ids, vocab_size=logits.shape[-1])
            else:
                value = causal_lm_loss(head, h, ids)
        value.backward()
        h.grad = None

    before = (torch.cuda.memory_allocated() if ids.is_cuda else
              _bytes([h, *head.parameters()]))  # CPU: the timeline holds only what run() touches
    peak = peak_bytes(run)
    head_grads = _bytes(p.grad for p in head.parameters())  # counted as gradients, not as the loss's
    model.zero_grad(set_to_none=True)
    return peak - before - head_grads
