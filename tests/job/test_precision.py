"""The job's 'auto' precision per device, as the planner prices it."""

from __future__ import annotations

import pytest
import torch

from tunecost.job.model import compute_dtype


@pytest.mark.parametrize("cuda, bf16, expected", [(False, False, torch.float32), (True, True, torch.bfloat16),
                                                  (True, False, torch.float16)])
def test_auto_precision_follows_the_device__cuda_probe_replaced(monkeypatch, cuda, bf16, expected):
    """What the planner prices: bf16 where the GPU has it, fp16 tensor cores on V100/T4, fp32 on CPU. torch's CUDA
    probes are the one thing replaced (no GPU here)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert compute_dtype("auto") == expected
    assert compute_dtype("fp32") == torch.float32  # an explicit choice stands
