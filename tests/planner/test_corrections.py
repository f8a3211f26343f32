"""The planner's reader of calibration.json: lookup, adjusted hours/memory with the line a plan shows, bad files."""

from __future__ import annotations

import pytest

from tunecost.planner.corrections import Correction, Corrections, parse_corrections, read_corrections
from tunecost.planner.errors import UserError

STORED = Corrections(factors=[
    Correction(gpu="A100-80GB", method="qlora", hours_factor=1.25, memory_factor=None, runs=2, run_ids=["a", "b"]),
    Correction(gpu="L4", method="lora", hours_factor=None, memory_factor=0.9, runs=1, run_ids=["c"]),
])


def test_round_trip_through_json_text():
    assert parse_corrections(STORED.model_dump_json()) == STORED


def test_hours_are_multiplied_and_the_assumption_says_where_it_came_from():
    hours, why = STORED.adjust_hours(4.0, "a100-80gb", "qlora")
    assert hours == pytest.approx(5.0)
    assert "x1.250" in why and "2 finished runs" in why


def test_nothing_learned_leaves_the_estimate_alone():
    assert STORED.adjust_hours(4.0, "H100", "qlora") == (4.0, None)
    assert STORED.adjust_hours(4.0, "L4", "lora") == (4.0, None)  # only a memory factor there
    gib, why = STORED.adjust_memory(20.0, "L4", "lora")
    assert gib == pytest.approx(18.0) and "1 finished run " in why


def test_missing_file_is_no_corrections_and_a_damaged_one_is_one_clear_error(tmp_path):
    assert read_corrections(tmp_path / "calibration.json").factors == []
    bad = tmp_path / "calibration.json"
    bad.write_text('{"factors": [{"gpu": 1}]}')
    with pytest.raises(UserError, match="not a tunecost calibration file"):
        read_corrections(bad)
