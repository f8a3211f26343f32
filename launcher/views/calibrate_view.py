"""The calibration as tables: the planner's error per GPU and method, the learned spot preemption rates, the runs
that could not be used, and the correction factors stored for later plans."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tunecost.launcher.reports.calibrate import Calibration, CalibrationRow
from tunecost.planner.corrections import Correction


def _fmt(value: Optional[float], spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


def print_calibration(calibration: Calibration, console: Console) -> None:
    """The per-GPU-and-method table, then the runs that could not be used and why."""
    table = Table(title="Planner vs measured (succeeded runs)", title_justify="left")
    for name in ("GPU", "method", "runs", "est h", "real h", "h x", "h err", "est GiB", "peak GiB", "mem x",
                 "mem err"):
        table.add_column(name, justify="left" if name in ("GPU", "method") else "right", no_wrap=True)
    for r in calibration.rows:
        h_err, m_err = CalibrationRow.error_pct(r.hours_factor), CalibrationRow.error_pct(r.memory_factor)
        table.add_row(Text(r.gpu), Text(r.method), str(r.runs), _fmt(r.estimated_hours), _fmt(r.actual_hours),
                      _fmt(r.hours_factor, ".3f"), "n/a" if h_err is None else f"{h_err:+.1f}%",
                      _fmt(r.estimated_peak_gib, ".2f"), _fmt(r.peak_memory_gib, ".2f"),
                      _fmt(r.memory_factor, ".3f"), "n/a" if m_err is None else f"{m_err:+.1f}%")
    console.print(table)
    if calibration.rates:
        rates = Table(title="Spot preemptions per instance-hour (managed spot runs' recoveries)",
                      title_justify="left")
        for name in ("provider", "GPUs/node", "runs", "recoveries", "instance-h", "rate"):
            rates.add_column(name, justify="left" if name == "provider" else "right", no_wrap=True)
        for r in calibration.rates:
            rates.add_row(Text(r.provider), "8+" if r.min_gpus >= 8 else "1-7", str(r.runs), str(r.recoveries),
                          f"{r.node_hours:.1f}", f"{r.rate:.3f}")
        console.print(rates)
    for why in calibration.skipped:
        console.print(f"skipped {why}", markup=False, highlight=False)


def print_factors(factors: list[Correction], path: Path, console: Console) -> None:
    """The correction factors later plans use, and where they are stored."""
    if not factors:
        console.print(f"no correction factors stored ({path}); run tunecost calibrate --apply",
                      markup=False, highlight=False)
        return
    table = Table(title=f"Stored correction factors ({path})", title_justify="left")
    for name in ("GPU", "method", "hours x", "memory x", "from runs"):
        table.add_column(name)
    for f in factors:
        table.add_row(Text(f.gpu), Text(f.method), _fmt(f.hours_factor, ".3f"), _fmt(f.memory_factor, ".3f"),
                      Text(", ".join(f.run_ids)))
    console.print(table)
