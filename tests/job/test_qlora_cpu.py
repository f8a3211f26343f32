"""QLoRA on a CPU trains with true gradients after the model has run in eval mode (the job's before-training
sample and its evals do), on any CPU: bitsandbytes' AVX512-BF16 inference repacking stays off."""

from __future__ import annotations

import bitsandbytes as bnb
import torch

from tunecost.job.job_config import JobConfig
from tunecost.job.model import apply_method, load_base, tiny_folder


def _qlora(tmp_path):
    cfg = JobConfig(model="tiny", dataset="demo", output_dir=str(tmp_path), method="qlora", rank=4).resolve(cuda=False)
    torch.manual_seed(0)
    return apply_method(load_base(tiny_folder(), cfg), cfg)


def _adapter_grads(model, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    model.train()
    model.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_4bit_layers_never_repack_for_the_inference_kernel(tmp_path):
    model = _qlora(tmp_path)
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and not any(m.support_avx512bf16_for_cpu for m in layers)


def test_gradients_after_an_eval_pass_are_the_gradients_before_it(tmp_path):
    """On this session's Xeon (AVX512-BF16) the repacked weights gave wrong gradients: the demo's loss rose."""
    ids = torch.randint(0, 200, (2, 12))
    fresh = _adapter_grads(_qlora(tmp_path / "a"), ids)
    model = _qlora(tmp_path / "b")
    model.eval()
    with torch.no_grad():
        model(input_ids=ids[:1, :5])
    after_eval = _adapter_grads(model, ids)
    assert fresh.keys() == after_eval.keys() and fresh
    for name, grad in fresh.items():
        assert torch.allclose(grad, after_eval[name], rtol=1e-4, atol=1e-6), name
