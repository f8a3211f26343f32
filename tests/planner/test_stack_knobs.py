"""Each stack modelled knob by knob (planner/model/frameworks.py): precision per tensor, where the logits live, adapter
dtype; checked against the published rows that show each knob (tests/data/published_runs.csv)."""

from pathlib import Path

import pytest

from validation.calibration import CASES, comparable_memory_gib, load_rows, measured_gib
from tunecost.planner.model.memory import GIB, LIGER_BYTES_PER_HIDDEN, estimate_memory
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import LossKernel, TrainSpec

ROWS = load_rows(Path(__file__).resolve().parents[1] / "data" / "published_runs.csv")
BY_ID = {c.row_id: c for c in CASES}


def _mem(**fields):
    spec = TrainSpec(**fields)
    return estimate_memory(spec, resolve_shape(spec))


def test_axolotl_cut_cross_entropy_rows_are_priced_without_full_logits():
    """AX-06 (Ministral 8B, CCE plugin): with full fp32 logits the estimate overshoots by over half; with the
    config's loss kernel it lands within 10 %."""
    case = BY_ID["AX-06"]
    measured = measured_gib(ROWS["AX-06"])
    with_cce = comparable_memory_gib(case)
    without = comparable_memory_gib(case.model_copy(update={"spec": case.spec.model_copy(
        update={"loss_kernel": LossKernel.torch})}))
    assert abs(with_cce / measured - 1) < 0.10 and without / measured - 1 > 0.5


@pytest.mark.parametrize("kernel", ["cce", "liger"])
def test_fused_loss_kernels_hold_no_full_vocabulary_logits(kernel):
    base = dict(model="meta-llama/Llama-3.1-8B", method="qlora", seq_len=4096, micro_batch=4, framework="axolotl")
    torch_loss = _mem(**base).components_gib["logits"]
    fused = _mem(**base, loss_kernel=kernel).components_gib["logits"]
    tokens, vocab, hidden = 4 * 4096, 128_256, 4096
    assert torch_loss == pytest.approx(12 * vocab * tokens / GIB, rel=1e-3)
    assert fused < torch_loss / 20
    if kernel == "liger":  # the slope of Liger's own benchmark (techniques_2026-12.csv): 13 B x hidden per token
        assert fused == pytest.approx(LIGER_BYTES_PER_HIDDEN * hidden * tokens / GIB, rel=1e-3)


def test_hf_honours_pure_bf16_for_a_full_fine_tune():
    """A bf16-loaded HF Trainer run trains in bf16 (no fp32 master copy); bf16-mixed (fp32 load) keeps one."""
    common = dict(model="meta-llama/Llama-3.2-1B", method="full", framework="hf")
    pure, mixed = _mem(**common, precision="bf16"), _mem(**common, precision="bf16-mixed")
    assert "master_weights" not in pure.components_gib and mixed.components_gib["master_weights"] > 4
    assert mixed.peak_gib > 1.5 * pure.peak_gib


def test_litgpt_bf16_mixed_keeps_the_frozen_base_in_fp32():
    common = dict(model="meta-llama/Llama-3.1-8B", method="lora", framework="litgpt", gradient_checkpointing=True)
    true16, mixed = _mem(**common, precision="bf16"), _mem(**common, precision="bf16-mixed")
    assert mixed.components_gib["weights"] == pytest.approx(2 * true16.components_gib["weights"], rel=1e-6)


def test_fsdp_qlora_pure_bf16_gives_bf16_adapters():
    common = dict(model="meta-llama/Llama-2-7b-hf", method="qlora", framework="hf-fsdp-qlora", rank=64)
    pure, mixed = _mem(**common, precision="bf16"), _mem(**common, precision="bf16-mixed")
    assert pure.components_gib["trainable"] == pytest.approx(mixed.components_gib["trainable"] / 2, rel=1e-4)


def test_the_bundled_job_ignores_a_loss_kernel_it_does_not_run():
    common = dict(model="meta-llama/Llama-3.1-8B", method="qlora", framework="tunecost")
    assert _mem(**common).peak_gib == _mem(**common, loss_kernel="torch").peak_gib


def test_what_would_make_it_fit_names_a_fused_loss_kernel_on_hf_based_stacks():
    """8B QLoRA, 4 x 4096 tokens under axolotl: the full fp32 logits (23.5 GiB) are what does not fit a 40 GB
    A100; one config line (a fused loss) is the cheapest change, and it really fits."""
    from tunecost.planner.model.fit import Fitter

    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method="qlora", seq_len=4096, micro_batch=4,
                     framework="axolotl", precision="bf16")
    fitter = Fitter(spec, resolve_shape(spec), 0.9, 8)
    assert not fitter.best(1, 40.0)[2]
    assert fitter.hint(1, 40.0, "A100").startswith("fits on 1x A100 with --loss-kernel liger")
    assert fitter.best(1, 40.0, spec.model_copy(update={"loss_kernel": LossKernel.liger}))[2]
