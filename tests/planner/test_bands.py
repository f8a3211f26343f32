"""The memory band (planner/model/bands.py): the shipped table equals a fresh leave-one-source-out scoring of the
published rows (tests/data/published_runs.csv), and the fit verdict uses its upper edge."""

from pathlib import Path

import pytest

from tunecost.planner.model import bands
from validation.accuracy import band_errors, score
from tunecost.planner.estimate import estimate
from tunecost.planner.spec import TrainSpec

ROOT = Path(__file__).resolve().parents[2]
RUNS, FTUNE = ROOT / "tests" / "data" / "published_runs.csv", ROOT / "benchmarks" / "ftune_estimates.csv"


def test_shipped_band_table_equals_a_fresh_scoring_of_the_published_rows():
    """Regenerate with: python benchmarks/estimate_accuracy.py --write-bands"""
    fresh = bands.to_csv(bands.error_sets(band_errors(score(RUNS, FTUNE))))
    shipped = (ROOT / "planner" / "model" / bands.BANDS_FILE).read_text(encoding="utf-8")
    assert shipped == fresh


def test_band_is_the_10th_to_90th_percentile_error_turned_around_the_estimate():
    s = bands.error_set("litgpt", "qlora")
    assert len(s.errors) >= bands.MIN_ROWS and all(r.startswith(("LGRT", "LGCH")) for r in s.rows)
    b = bands.band(10.0, "litgpt", "qlora")
    assert b.low_gib == pytest.approx(10.0 / (1 + max(s.quantile(0.9), 0)), abs=0.01)
    assert b.high_gib == pytest.approx(10.0 / (1 + min(s.quantile(0.1), 0)), abs=0.01)
    assert b.low_gib <= 10.0 <= b.high_gib


def test_a_framework_without_rows_takes_its_methods_errors_from_every_framework():
    assert bands.error_set("tunecost", "lora").framework == bands.ANY
    assert bands.error_set("hf", "qlora").rows == bands.error_set(bands.ANY, "qlora").rows


def test_share_over_counts_the_runs_that_scaled_to_this_estimate_exceed_usable_memory():
    b = bands.Band(low_gib=9, high_gib=12, basis="x", errors=(-0.2, -0.1, 0.0, 0.1))
    assert b.share_over(10.0, 10.5) == 0.5  # 10/0.8 = 12.5 and 10/0.9 = 11.1 exceed 10.5


def test_an_offer_that_fits_only_at_the_expected_peak_is_tight_not_fitting():
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method="qlora", seq_len=2048, micro_batch=2)
    est = estimate(spec, "L4", headroom=1.0)
    low, high = est.memory.band_gib
    assert low <= est.memory.peak_gib <= high
    # an L4 (24 GiB) holds it; shrink headroom until only the expected peak fits
    usable = (est.memory.peak_gib + high) / 2
    tight = estimate(spec, "L4", headroom=usable / 24.0)
    assert tight.fits is False and tight.tight is True
    assert tight.fit_reason.startswith("tight:") and "of the published runs like it went over" in tight.fit_reason
