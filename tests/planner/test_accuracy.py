"""Leave-one-source-out scoring and the two peers (ftuneai's recorded answers, accelerate's x4 rule) on the
published memory rows (tests/data/published_runs.csv; benchmarks/ftune_estimates.csv)."""

import csv
from pathlib import Path
from statistics import median

import pytest

from validation.accuracy import (accelerate_rule_gib, framework_of, leave_one_source_out, score,
                                       source_of)
from validation.calibration import CASES, PhysicsGap, physics_gaps
from tunecost.planner.model.shapes import resolve_shape

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "tests" / "data" / "published_runs.csv"
FTUNE = ROOT / "benchmarks" / "ftune_estimates.csv"
SCORED = score(RUNS, FTUNE)


def test_leave_one_source_out_never_fits_on_the_rows_it_scores():
    """Two sources in one group: each source is scored with the other's median only."""
    gaps = [PhysicsGap(row_id="AA-1", group="f/g", ratio=0.10), PhysicsGap(row_id="AA-2", group="f/g", ratio=0.30),
            PhysicsGap(row_id="BB-1", group="f/g", ratio=0.50), PhysicsGap(row_id="CC-1", group="f/h", ratio=0.2),
            PhysicsGap(row_id="DD-1", group="e/g", ratio=0.0)]
    loso = leave_one_source_out(gaps)
    assert loso["AA-1"] == pytest.approx(1.5 / 1.1 - 1) and loso["AA-2"] == pytest.approx(1.5 / 1.3 - 1)
    assert loso["BB-1"] == pytest.approx(1.2 / 1.5 - 1)  # median of AA-1, AA-2
    assert loso["CC-1"] == pytest.approx(1 / 1.2 - 1)    # alone in its group and its pool: no constant left
    # framework e has no other source: the pooled */g rows of other sources (AA-1, AA-2, BB-1) give its constant
    assert loso["DD-1"] == pytest.approx(1.3 / 1.0 - 1)


def test_leave_one_source_out_is_no_better_than_in_sample_on_the_published_rows():
    in_sample = median(abs(s.tunecost / s.measured - 1) for s in SCORED)
    loso = median(abs(s.tunecost_loso / s.measured - 1) for s in SCORED)
    assert loso >= in_sample - 0.005
    assert {source_of(s.row_id) for s in SCORED} >= {"TTL2", "TTM", "TTLT", "TTOPT", "LGRT", "LGCH"}
    assert len(SCORED) == len(physics_gaps(RUNS))


def test_accelerate_rule_is_four_times_the_load_dtype_weights():
    by_id = {c.row_id: c for c in CASES}
    lora, qlora = by_id["TTL2-02"], by_id["LGRT-08"]
    params = resolve_shape(lora.spec).total_params()
    assert accelerate_rule_gib(lora) == pytest.approx(4 * 2 * params / 2**30)
    assert accelerate_rule_gib(qlora) == pytest.approx(4 * 0.5 * params / 2**30)


def test_every_scored_row_has_a_recorded_ftune_answer_made_with_its_settings():
    with open(FTUNE, newline="", encoding="utf-8") as fh:
        recorded = {r["row_id"]: r for r in csv.DictReader(fh)}
    by_id = {c.row_id: c for c in CASES}
    for s in SCORED:
        row, spec = recorded[s.row_id], by_id[s.row_id].spec
        assert s.ftune == float(row["total_gib"]) > 0
        assert (row["method"], int(row["batch_size"]), int(row["seq_length"]), int(row["lora_rank"])) == \
            (spec.method.value, spec.micro_batch, spec.seq_len, spec.rank), s.row_id


def test_rows_are_grouped_by_the_framework_they_ran():
    frameworks = {s.row_id: s.framework for s in SCORED}
    assert frameworks["TTM-01"] == "torchtune" and frameworks["LGCH-08"] == "litgpt"
    assert frameworks["AA-06"] == "hf-fsdp-qlora" and frameworks["AX-06"] == frameworks["AXL-01"] == "axolotl"
    assert {framework_of(c).value for c in CASES} == {"torchtune", "litgpt", "hf-fsdp-qlora", "axolotl"}
