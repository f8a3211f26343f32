"""Accuracy of the memory estimate on published runs, out of sample by source, beside two peer estimators.

Leave one source out: a source (the row-id prefix: TTL2, TTM, TTLT, TTOPT, LGRT, LGCH) is one project's table,
measured one way; its rows are scored with every fitted constant fitted on the other sources' rows only, so a
table cannot vouch for itself. The peers, on the same rows: `ftuneai` (its CLI's answers recorded per row in
benchmarks/ftune_estimates.csv, so the benchmark runs without it) and accelerate's "weights x 4" rule
(ACCELERATE_RULE). Used by benchmarks/estimate_accuracy.py and tests/planner/test_accuracy.py.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from pydantic import BaseModel

from validation.calibration import (CASES, Case, PhysicsGap, held_out_fraction, load_rows, measured_gib,
                                         physics_gaps)
from tunecost.planner.model.frameworks import PRESETS
from tunecost.planner.model.memory import GIB
from tunecost.planner.model.static_memory import NF4_BYTES
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import Framework, Method

GOAL_MEDIAN, GOAL_P90 = 0.10, 0.25  # issue 18: out of sample, per framework
ACCELERATE_RULE = ("accelerate estimate-memory (1.15) 'Training using Adam': 4 x the weights in the load dtype "
                   "(bf16: 4 x 2 B/param; it has no LoRA mode and prints N/A for int4, so LoRA rows get the same "
                   "bf16 figure and QLoRA rows 4 x the 4-bit weights, 4 x 0.5 B/param)")


def source_of(row_id: str) -> str:
    """The source a row comes from: its id prefix (one published table or page)."""
    return row_id.split("-")[0]


def framework_of(case: Case) -> Framework:
    """The user-facing framework whose storage a calibration case was run with."""
    for preset in PRESETS.values():
        if case.stack in (preset.stack, preset.qlora_stack, *preset.variants):
            return preset.framework
    raise ValueError(f"{case.row_id}: stack {case.stack} belongs to no framework preset")


def leave_one_source_out(gaps: list[PhysicsGap]) -> dict[str, float]:
    """Row id -> relative error when every overhead is fitted without the row's whole source.

    Each gap is measured / physics - 1, so the estimate with overhead f is off by (1 + f) / (1 + gap) - 1; f is
    the median gap of the row's framework group from other sources, else of the pooled group from other sources
    (what a framework with no rows of its own gets; calibration.held_out_fraction)."""
    return {gap.row_id: (1 + held_out_fraction(gap, gaps, lambda g: source_of(g.row_id) != source_of(gap.row_id)))
            / (1 + gap.ratio) - 1 for gap in gaps}


def accelerate_rule_gib(case: Case) -> float:
    """ACCELERATE_RULE for the row's model, per GPU (the rule knows no sharding: one full copy)."""
    params = resolve_shape(case.spec).total_params()
    load_bytes = NF4_BYTES if case.spec.method is Method.qlora else 2.0
    return 4.0 * load_bytes * params / GIB


class Scored(BaseModel):
    """One published memory row: the measurement and each estimator's figure for it (GiB)."""

    row_id: str
    source: str
    method: str
    framework: str
    measured: float
    tunecost: float        # the planner, in sample (constants fitted on all rows)
    tunecost_loso: float   # the planner, this row's source left out of every fit
    no_preset: float       # the planner without --framework: the bundled job's storage (no fitted constant)
    ftune: Optional[float] = None
    accelerate: float


def read_ftune(path: Path) -> dict[str, float]:
    """Row id -> ftune's total_gb (GiB) as recorded by benchmarks/record_ftune.py."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["row_id"]: float(r["total_gib"]) for r in csv.DictReader(fh) if r["total_gib"].strip()}


def score(runs_csv: Path, ftune_csv: Path) -> list[Scored]:
    """Every memory row the calibration compares, with all estimators side by side."""
    from validation.calibration import comparable_memory_gib

    rows, gaps = load_rows(runs_csv), physics_gaps(runs_csv)
    loso = leave_one_source_out(gaps)
    ftune = read_ftune(ftune_csv)
    out = []
    for case in CASES:
        measured = measured_gib(rows[case.row_id])
        if not case.memory or measured is None:
            continue
        out.append(Scored(row_id=case.row_id, source=source_of(case.row_id), method=case.spec.method.value,
                          framework=framework_of(case).value, measured=measured,
                          tunecost=comparable_memory_gib(case), tunecost_loso=measured * (1 + loso[case.row_id]),
                          no_preset=comparable_memory_gib(case.model_copy(update={"stack": "tunecost"})),
                          ftune=ftune.get(case.row_id), accelerate=accelerate_rule_gib(case)))
    return out


def band_errors(scored: list[Scored]) -> list[tuple[str, str, str, float]]:
    """(row id, framework, method, leave-one-source-out error) per row: what planner/model/bands.py is built from."""
    return [(s.row_id, s.framework, s.method, s.tunecost_loso / s.measured - 1) for s in scored]


class Goal(BaseModel):
    """Issue 18's goal on one group of rows: the preset's |error| out of sample at or below 10 % median and 25 %
    p90, and neither worse than no preset's (the bundled job's figure) on the same rows."""

    median: float
    p90: float
    bare_median: float
    bare_p90: float

    @classmethod
    def of(cls, loso: Sequence[float], bare: Sequence[float]) -> "Goal":
        """From the |relative errors| of the preset (each source left out) and of no preset, row by row."""
        return cls(median=float(np.median(loso)), p90=float(np.quantile(loso, 0.9)),
                   bare_median=float(np.median(bare)), bare_p90=float(np.quantile(bare, 0.9)))

    @property
    def within(self) -> bool:
        return self.median <= GOAL_MEDIAN and self.p90 <= GOAL_P90

    @property
    def met(self) -> bool:
        return self.within and self.median <= self.bare_median and self.p90 <= self.bare_p90
