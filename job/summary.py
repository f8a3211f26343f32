"""The torch-side figures of run_summary.json (memory, device, loss curve); the model and its writer are in
run_summary.py, which imports no torch so the launcher can read summaries too.

Peak memory: on GPU `torch.cuda.max_memory_reserved` (what the allocator held, what decides an OOM). On CPU the
process's peak resident set size from `resource.getrusage(RUSAGE_SELF).ru_maxrss` (the kernel's high-water mark,
exact, includes the Python/torch runtime, ~0.5 GiB); it is per process, so under DDP it is rank 0's.
"""

from __future__ import annotations

import os
import resource
import sys
from typing import Any

import torch


GIB = float(2**30)


def peak_memory_gib() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_reserved() / GIB
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kib * (1 if sys.platform == "darwin" else 1024) / GIB


def peak_memory_source() -> str:
    return "torch.cuda.max_memory_reserved" if torch.cuda.is_available() else "getrusage.ru_maxrss (process RSS)"


def device_name() -> str:
    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return f"cpu ({os.cpu_count()} cores)"


def loss_curve(log_history: list[dict[str, Any]]) -> list[list[float]]:
    """[step, loss] from HF's log history, which survives resumes inside trainer_state.json."""
    return [[h["step"], round(float(h["loss"]), 6)] for h in log_history if "loss" in h and "step" in h]

