"""Calibration from real local runs (conftest.py): factor = median(measured / estimated) per GPU and method.

The runs are real; the estimates are inputs set on copies of their records (a local launch has no plan), so the
expected factors are computed from each run's own measured seconds and peak memory, never typed in.
"""

from __future__ import annotations

import json
from statistics import median

import pytest

from tunecost.launcher.reports.calibrate import apply, calibrate, calibration_path, load_factors
from tunecost.launcher.ledger.store import Ledger
from tunecost.planner.errors import UserError

from ..conftest import SINGLE

pytestmark = pytest.mark.slow  # real training runs


def _measured_hours(record) -> float:
    """As the ledger measured it: the launcher's running hours, else first start to last end."""
    if record.actual_hours is not None:
        return record.actual_hours
    return (record.ended_at - record.started_at).total_seconds() / 3600


def _with_estimates(real_runs, hours_scale: float = 0.8, memory_gib: float = 0.5):
    """The real runs with a plan estimate: hours = measured x scale, peak = a fixed GiB."""
    return [r.model_copy(update={"estimated_hours": _measured_hours(r) * hours_scale,
                                 "estimated_peak_gib": memory_gib})
            for r in (real_runs.free, real_runs.priced)]


def test_factor_is_the_median_ratio_of_measured_to_estimated(real_runs):
    records = _with_estimates(real_runs)
    result = calibrate(records)
    assert len(result.rows) == 1
    row = result.rows[0]
    assert real_runs.free.offer.gpu == real_runs.priced.offer.gpu  # the launcher records the job's device
    assert (row.gpu, row.method, row.runs) == (real_runs.priced.offer.gpu or "cpu (local)", "qlora", 2)
    assert row.hours_factor == pytest.approx(1 / 0.8)
    peaks = [r.summary.peak_memory_gib for r in records]
    assert row.memory_factor == pytest.approx(median(p / 0.5 for p in peaks))
    assert row.peak_memory_gib == pytest.approx(median(peaks))
    assert result.skipped == []


def test_a_factor_the_plan_already_applied_is_taken_out_so_factors_do_not_compound(real_runs):
    """A run planned with a learned x2 on its GPU: the new factor is measured against the planner's own figure."""
    records = []
    for r in _with_estimates(real_runs):
        applied = SINGLE.model_copy(update={"chosen": SINGLE.chosen.model_copy(
            update={"offer": SINGLE.chosen.offer.model_copy(update={"gpu": r.offer.gpu}),
                    "corrections": {"hours": 2.0, "memory": 2.0}})})
        records.append(r.model_copy(update={"plan": applied, "estimated_hours": r.estimated_hours * 2.0,
                                            "estimated_peak_gib": r.estimated_peak_gib * 2.0}))
    row = calibrate(records).rows[0]
    assert row.hours_factor == pytest.approx(1 / 0.8)
    assert row.memory_factor == pytest.approx(calibrate(_with_estimates(real_runs)).rows[0].memory_factor)


def _unestimated(record):
    """A run as one whose model the planner could not size records it: no plan estimate."""
    return record.model_copy(update={"estimated_hours": None, "estimated_peak_gib": None})


def test_runs_without_estimates_or_not_succeeded_are_skipped_with_a_reason(real_runs):
    assert real_runs.free.estimated_hours and real_runs.free.estimated_peak_gib  # a local tiny run records both
    failed = real_runs.priced.model_copy(update={"id": "broke", "status": "failed"})
    result = calibrate([_unestimated(real_runs.free), failed])
    assert result.rows == []
    assert any("no plan estimate" in why for why in result.skipped)
    assert any(why.startswith("broke: failed") for why in result.skipped)


def test_apply_stores_sane_factors_and_refuses_wild_ones(real_runs, tmp_path):
    home = tmp_path / "home"
    path, stored, refused = apply(calibrate(_with_estimates(real_runs)), home=home)
    assert path == calibration_path(home) and path.is_file()
    assert [(f.gpu, f.method) for f in stored] == [(real_runs.priced.offer.gpu or "cpu (local)", "qlora")]
    assert load_factors(home)[0].hours_factor == pytest.approx(1 / 0.8)
    assert refused == []
    wild = calibrate(_with_estimates(real_runs, hours_scale=0.001))
    _, stored, refused = apply(wild, home=home)
    assert any("hours factor" in why for why in refused)
    assert stored[0].hours_factor == pytest.approx(1 / 0.8), "a wild factor must not replace a sane one"


def test_damaged_calibration_file_is_one_clear_error(tmp_path):
    calibration_path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
    calibration_path(tmp_path).write_text("{not json")
    with pytest.raises(UserError, match="not a tunecost calibration file"):
        load_factors(tmp_path)


def test_calibrate_command_applies_and_then_shows_the_stored_factors(real_runs, tunecost_cli, tmp_path):
    home = real_runs.ledger_copy(tmp_path / "home")
    ledger = Ledger(home)
    for r in _with_estimates(real_runs):
        ledger.update(r.id, estimated_hours=r.estimated_hours, estimated_peak_gib=r.estimated_peak_gib)
    done = tunecost_cli(home, "calibrate", "--apply", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["applied"] and data["factors"][0]["hours_factor"] == pytest.approx(1 / 0.8, rel=1e-6)
    assert json.loads((home / "calibration.json").read_text())["factors"][0]["runs"] == 2
    shown = tunecost_cli(home, "calibrate")
    assert shown.returncode == 0, shown.stderr
    assert "Stored correction factors" in shown.stdout and (real_runs.priced.offer.gpu or "cpu (local)") in shown.stdout


def test_calibrate_command_with_nothing_to_learn_from_is_one_clear_line(real_runs, tunecost_cli, tmp_path):
    home = real_runs.ledger_copy(tmp_path / "home")
    ledger = Ledger(home)
    for r in (real_runs.free, real_runs.priced):
        ledger.update(r.id, estimated_hours=None, estimated_peak_gib=None)
    done = tunecost_cli(home, "calibrate")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: nothing to calibrate from")


def test_a_gpu_run_compares_reserved_memory_with_the_plan_less_its_cuda_context(real_runs):
    """A GPU job records torch.cuda.max_memory_reserved, which holds no CUDA context: the plan's peak is
    compared without it (a local CPU run keeps the plan's figure as it is)."""
    from tunecost.planner.model.memory import CUDA_CONTEXT_GIB

    local = _with_estimates(real_runs, memory_gib=2.0)
    cloud = [r.model_copy(update={"backend": "sky-managed", "offer": r.offer.model_copy(update={"provider": "runpod"})}) for r in local]
    peaks = [r.summary.peak_memory_gib for r in local]
    assert calibrate(local).rows[0].memory_factor == pytest.approx(median(p / 2.0 for p in peaks))
    row = calibrate(cloud).rows[0]
    assert row.memory_factor == pytest.approx(median(p / (2.0 - CUDA_CONTEXT_GIB) for p in peaks))
