"""Peak memory estimates against published runs (tests/data/published_runs.csv, row ids cited).

Physics first (4-bit payload, quantization constants with and without double quant, dequantization buffer,
litgpt's 4-bit lm_head, fp32 activations in the HF QLoRA stack, the loss kernel and per-tensor precision of
each stack), then one calibrated overhead per framework and group (QLoRA / FSDP / LoRA-full on 1 GPU), fitted as
the median gap the physics leaves; the fit is checked here to equal the constants in memory.py, and out of sample
by leave-one-out (see benchmarks/estimate_accuracy.md).
"""

from pathlib import Path
from statistics import median

import pytest

from validation.calibration import (CASES, OOM_CASES, compare, comparable_memory_gib, fit_overheads,
                                         leave_one_out, load_rows, measured_gib, physics_gaps)
from validation.accuracy import framework_of
from tunecost.planner.market.gpus import get_gpu
from tunecost.planner.model.memory import CALIBRATED_OVERHEAD, estimate_memory
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import TrainSpec

CSV = Path(__file__).resolve().parents[1] / "data" / "published_runs.csv"
MEMORY = [c for c in compare(CSV) if c.quantity == "memory"]
TOLERANCE = {"lora": 0.20, "qlora": 0.20, "full": 0.12}
GAPS = physics_gaps(CSV)


# Rows the estimate misses by more than the tolerance, and why (counted in the band's errors, and in
# test_the_fit_decision_rarely_sits_under_the_measured_peak). An entry that stops missing must leave the list.
OUTLIERS = {"AA-01": "512-token QLoRA over 2 GPUs: ~1.3 GiB of reserved memory (FSDP buffers) not modelled"}


@pytest.mark.parametrize("cmp", MEMORY, ids=lambda c: f"{c.row_id}_{c.method}")
def test_memory_within_tolerance_of_published_row(cmp):
    if cmp.row_id in OUTLIERS:
        assert abs(cmp.rel_error) > TOLERANCE[cmp.method], f"{cmp.row_id} is no longer an outlier"
        return
    assert abs(cmp.rel_error) <= TOLERANCE[cmp.method], (
        f"{cmp.row_id}: estimate {cmp.estimate:.2f} GiB vs measured {cmp.measured:.2f} GiB ({cmp.rel_error:+.0%})")


def test_memory_within_5pct_of_TTOPT_02_full_3b_packed_4096():
    (cmp,) = [c for c in MEMORY if c.row_id == "TTOPT-02"]
    assert cmp.rel_error == pytest.approx(0, abs=0.05), cmp


@pytest.mark.parametrize("method,bound", [("lora", 0.07), ("qlora", 0.13), ("full", 0.08)])
def test_median_memory_error_per_method(method, bound):
    errors = [abs(c.rel_error) for c in MEMORY if c.method == method]
    assert len(errors) >= 3
    assert median(errors) <= bound, f"{method}: median {median(errors):.1%} over {len(errors)} rows"


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_median_signed_memory_error_is_near_zero(method):
    signed = [c.rel_error for c in MEMORY if c.method == method]
    assert abs(median(signed)) <= 0.03, f"{method}: bias {median(signed):+.1%}"


def test_calibrated_overheads_in_memory_py_equal_a_fresh_fit_on_the_rows():
    fitted = fit_overheads(GAPS)
    assert set(fitted) == set(CALIBRATED_OVERHEAD)
    for group, (fraction, ids) in fitted.items():
        assert CALIBRATED_OVERHEAD[group][0] == pytest.approx(fraction, abs=0.002), (group, ids)


@pytest.mark.parametrize("method,bound", [("lora", 0.08), ("qlora", 0.13), ("full", 0.15)])
def test_leave_one_out_memory_error_per_method(method, bound):
    loo = leave_one_out(GAPS)
    errors = [abs(loo[c.row_id]) for c in MEMORY if c.method == method]
    assert median(errors) <= bound, f"{method}: LOO median {median(errors):.1%} over {len(errors)} rows"


@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_the_fit_decision_rarely_sits_under_the_measured_peak(method):
    """The fit is judged by the band's upper edge (planner/model/bands.py: the 10th-percentile out-of-sample error), so
    it may sit under a measurement on at most ~10 % of the rows (AA-01 and AX-09 of 24 QLoRA rows today)."""
    rows = load_rows(CSV)
    cases = [c for c in CASES if c.memory and c.spec.method.value == method and measured_gib(rows[c.row_id])]
    under = [c.row_id for c in cases if _as_planned(c).band_gib[1] < measured_gib(rows[c.row_id])]
    assert len(under) <= 0.1 * len(cases), f"{method}: band's upper edge below measured on {under}"


def _as_planned(case):
    """The estimate a plan makes for this row: its framework's band (the spec names the framework)."""
    spec = case.spec.model_copy(update={"framework": framework_of(case)})
    return estimate_memory(spec, resolve_shape(spec), case.gpu_count, case.parallelism, stack=case.stack)


def test_double_quant_saving_matches_LGRT_08_vs_LGRT_09():
    """Same run, bnb.nf4 vs bnb.nf4-dq: the measured difference is the fp32-vs-8-bit absmax constants (physics
    only: the calibrated overhead scales every byte alike)."""
    rows = load_rows(CSV)
    est = {c.row_id: comparable_memory_gib(c, calibrated=False) for c in CASES if c.row_id in ("LGRT-08", "LGRT-09")}
    measured = measured_gib(rows["LGRT-08"]) - measured_gib(rows["LGRT-09"])
    assert est["LGRT-08"] - est["LGRT-09"] == pytest.approx(measured, abs=0.06)


@pytest.mark.parametrize("case", OOM_CASES, ids=lambda c: c.row_id)
def test_rows_that_went_out_of_memory_do_not_fit_the_gpu_in_the_plan(case):
    est = estimate_memory(case.spec, resolve_shape(case.spec), stack=case.stack)
    assert est.peak_gib > get_gpu(case.gpu).memory_gib, f"{case.row_id}: {est.peak_gib:.1f} GiB"


def test_rank_sweep_TTLT_01_to_04_orders_like_the_measurements():
    est = {c.row_id: comparable_memory_gib(c) for c in CASES if c.row_id.startswith("TTLT")}
    assert est["TTLT-01"] < est["TTLT-03"] < est["TTLT-04"]
    assert est["TTLT-01"] < est["TTLT-02"] < est["TTLT-04"]


def test_components_sum_to_peak_and_fsdp_shards_static_memory():
    spec = TrainSpec(model="Llama-3.1-8B", method="full", micro_batch=1, seq_len=2048)
    shape = resolve_shape(spec)
    one = estimate_memory(spec, shape)
    assert sum(one.components_gib.values()) == pytest.approx(one.peak_gib, abs=0.01)
    eight = estimate_memory(spec, shape, gpu_count=8, parallelism="fsdp")
    assert eight.components_gib["optimizer"] == pytest.approx(one.components_gib["optimizer"] / 8, rel=0.01)
    ddp = estimate_memory(spec, shape, gpu_count=8, parallelism="ddp")
    assert ddp.peak_gib > one.peak_gib


def test_qlora_weights_are_about_a_quarter_of_bf16_and_assumptions_are_stated():
    spec = TrainSpec(model="Llama-3.1-70B", method="qlora")
    shape = resolve_shape(spec)
    q = estimate_memory(spec, shape)
    lora = estimate_memory(spec.model_copy(update={"method": "lora"}), shape)
    ratio = (q.components_gib["weights"] + q.components_gib["quant_constants"]) / lora.components_gib["weights"]
    assert 0.26 < ratio < 0.32
    assert any("double-quant" in a for a in q.assumptions)


def test_prompt_tuning_trains_virtual_tokens_times_hidden():
    spec = TrainSpec(model="Llama-3.2-1B", method="prompt-tuning", virtual_tokens=20)
    assert estimate_memory(spec, resolve_shape(spec)).trainable_params == 20 * 2048
