"""How sure a memory estimate is: a band from the out-of-sample errors on published runs like it.

Each published memory row (calibration.CASES) is scored with every fitted constant refitted without its source
(accuracy.leave_one_source_out): error e = estimate / measured - 1. The measurement behind an estimate E then lies
near E / (1 + e), so the 10th and 90th percentile errors of the rows of the same framework and method give the
band [E / (1 + p90), E / (1 + p10)]. A framework and method with fewer than MIN_ROWS rows (the bundled job, plain
HF, prompt tuning) takes the errors of every framework's rows of that method, and a method with none, all rows.

The errors are stored in planner/model/memory_bands.csv, written by `python benchmarks/estimate_accuracy.py --write-bands`
(tests/planner/test_bands.py checks it equals a fresh computation), so `plan` reads a small table instead of
re-scoring the calibration rows at every start.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib.resources import files

from pydantic import BaseModel, ConfigDict

BANDS_FILE = "memory_bands.csv"
MIN_ROWS = 3
LOW_Q, HIGH_Q = 0.10, 0.90
ANY = "*"


class ErrorSet(BaseModel):
    """Out-of-sample errors (estimate / measured - 1) of one framework and method, and the rows they come from."""

    model_config = ConfigDict(frozen=True)

    framework: str
    method: str
    errors: tuple[float, ...]
    rows: tuple[str, ...]

    def quantile(self, q: float) -> float:
        """Linear-interpolated quantile (pandas' default), so the table and the benchmark agree."""
        xs = sorted(self.errors)
        pos = q * (len(xs) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    @property
    def label(self) -> str:
        who = "every framework" if self.framework == ANY else self.framework
        what = "all methods" if self.method == ANY else self.method
        return f"{len(self.errors)} published {what} runs of {who}, each source left out of every fit"


class Band(BaseModel):
    """Where the measured peak of a run like this one is expected: low-high GiB, from `basis`."""

    model_config = ConfigDict(frozen=True)

    low_gib: float
    high_gib: float
    basis: str
    errors: tuple[float, ...]

    def share_over(self, estimate_gib: float, usable_gib: float) -> float:
        """Share of the published runs like it whose measurement, scaled to this estimate, exceeds usable_gib."""
        return sum(estimate_gib / (1 + e) > usable_gib for e in self.errors) / len(self.errors)


def error_sets(rows: list[tuple[str, str, str, float]]) -> list[ErrorSet]:
    """(row id, framework, method, error) -> the sets the table stores: per framework and method with at least
    MIN_ROWS rows, per method over every framework, and over everything."""
    groups: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for row_id, framework, method, err in rows:
        for key in ((framework, method), (ANY, method), (ANY, ANY)):
            groups.setdefault(key, []).append((row_id, err))
    return [ErrorSet(framework=f, method=m, errors=tuple(round(e, 4) for _, e in members),
                     rows=tuple(r for r, _ in members))
            for (f, m), members in sorted(groups.items()) if len(members) >= MIN_ROWS]


def to_csv(sets: list[ErrorSet]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["framework", "method", "row_id", "error"])
    for s in sets:
        writer.writerows([s.framework, s.method, r, f"{e:.4f}"] for r, e in zip(s.rows, s.errors))
    return out.getvalue()


@lru_cache(maxsize=1)
def stored_sets() -> dict[tuple[str, str], ErrorSet]:
    """The shipped table, by (framework, method)."""
    text = files("tunecost.planner.model").joinpath(BANDS_FILE).read_text(encoding="utf-8")
    grouped: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for r in csv.DictReader(io.StringIO(text)):
        grouped.setdefault((r["framework"], r["method"]), []).append((r["row_id"], float(r["error"])))
    return {k: ErrorSet(framework=k[0], method=k[1], errors=tuple(e for _, e in v), rows=tuple(r for r, _ in v))
            for k, v in grouped.items()}


def error_set(framework: str, method: str) -> ErrorSet:
    """The errors that apply to this framework and method: its own, else its method's, else all."""
    sets = stored_sets()
    return sets.get((framework, method)) or sets.get((ANY, method)) or sets[(ANY, ANY)]


@lru_cache(maxsize=64)
def _edges(framework: str, method: str) -> tuple[float, float, str, tuple[float, ...]]:
    """(p10, p90, basis, errors) per framework and method: the planner asks for the same few many times."""
    s = error_set(framework, method)
    return s.quantile(LOW_Q), s.quantile(HIGH_Q), s.label, s.errors


def band(estimate_gib: float, framework: str, method: str) -> Band:
    """The band around an estimate; never narrower than the estimate itself on either side."""
    p10, p90, basis, errors = _edges(framework, method)
    low = estimate_gib / (1 + max(p90, 0.0))
    high = estimate_gib / (1 + min(p10, 0.0))
    return Band(low_gib=round(low, 2), high_gib=round(high, 2), basis=basis, errors=errors)
