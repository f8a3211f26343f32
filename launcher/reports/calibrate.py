"""Calibration: how far the planner's hours and peak memory were from what finished runs measured.

WHY: an estimate earns trust only by being checked against bills. Per GPU and method, the median ratio
measured / estimated is the correction factor later plans can multiply by; `--apply` stores the factors as
JSON in $TUNECOST_HOME/calibration.json (a plain file the planner can read without importing the launcher).
"""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Optional

from pydantic import BaseModel

from tunecost.launcher.reports.cost_summary import summarize
from tunecost.launcher.output_file import write_output
from tunecost.launcher.ledger.store import now
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.planner.corrections import Correction, Corrections, LearnedRate, corrections_path, load_corrections
from tunecost.planner.home import tunecost_home
from tunecost.planner.model.memory import CUDA_CONTEXT_GIB
from tunecost.planner.plan import Plan
from tunecost.planner.market.preemption import instance_class

SANE_FACTOR = (0.1, 10.0)  # outside this, a factor says "the run or the plan was broken", not "plan is off"


class Sample(BaseModel):
    """One succeeded run: estimated and measured hours and peak GiB."""

    run_id: str
    gpu: str
    method: str
    estimated_hours: Optional[float] = None
    actual_hours: Optional[float] = None
    estimated_peak_gib: Optional[float] = None
    peak_memory_gib: Optional[float] = None


class CalibrationRow(BaseModel):
    """Planner error for one (GPU, method): factor = median(measured / estimated); error % = factor - 1."""

    gpu: str
    method: str
    runs: int
    run_ids: list[str]
    estimated_hours: Optional[float] = None
    actual_hours: Optional[float] = None
    hours_factor: Optional[float] = None
    estimated_peak_gib: Optional[float] = None
    peak_memory_gib: Optional[float] = None
    memory_factor: Optional[float] = None

    @staticmethod
    def error_pct(factor: Optional[float]) -> Optional[float]:
        return None if factor is None else (factor - 1.0) * 100.0


class Calibration(BaseModel):
    rows: list[CalibrationRow]
    skipped: list[str]
    rates: list[LearnedRate] = []


JEFFREYS = 0.5  # rate = (recoveries + 0.5) / instance-hours: the Poisson rate's Jeffreys estimate, so a short
                # run without a preemption does not teach "spot is never preempted here"


def learn_rates(records: list[RunRecord]) -> list[LearnedRate]:
    """Spot preemptions per instance-hour per provider and instance class, from the recoveries SkyPilot counted
    on managed spot runs: (recoveries + 0.5) / (hours x nodes) over every such run with measured hours."""
    groups: dict[tuple[str, int], list[tuple[RunRecord, float]]] = {}
    for r in records:
        o = r.offer
        if not (o and o.spot and r.backend == "sky-managed" and r.actual_hours and o.provider):
            continue
        nodes = r.plan.chosen.offer.nodes if r.plan and r.plan.chosen else o.nodes  # old records: flat, one node
        groups.setdefault((o.provider, instance_class(o.gpu_count)), []).append((r, r.actual_hours * nodes))
    rates = []
    for (provider, cls), runs in sorted(groups.items()):
        recoveries, hours = sum(r.recoveries for r, _ in runs), sum(h for _, h in runs)
        rates.append(LearnedRate(provider=provider, min_gpus=cls, rate=(recoveries + JEFFREYS) / hours,
                                 recoveries=recoveries, node_hours=hours, runs=len(runs),
                                 run_ids=[r.id for r, _ in runs]))
    return rates


def _applied(plan: Optional[Plan], gpu: str) -> dict[str, float]:
    """The learned factors the plan had already applied to this GPU's quotes (the same for all of them)."""
    quotes = [*([plan.chosen] if plan and plan.chosen else []), *(plan.quotes if plan else [])]
    return next((q.corrections for q in quotes if q.offer.gpu == gpu), {})


def _unscaled(value: Optional[float], factor: Optional[float]) -> Optional[float]:
    return value / factor if value is not None and factor else value


def _sample(record: RunRecord) -> tuple[Optional[Sample], str]:
    """The run's sample, or None and why it cannot be one. Estimates are taken before any learned factor the
    plan applied, so a new factor replaces the old one instead of compounding on it."""
    if record.status != "succeeded":
        return None, f"{record.id}: {record.status}, only succeeded runs measure the plan"
    s = summarize(record)
    actual = None if s.actual_seconds is None else s.actual_seconds / 3600.0
    applied = _applied(record.plan, s.offer.gpu)
    estimated_peak = _unscaled(s.estimated_peak_gib, applied.get("memory"))
    if estimated_peak is not None and not s.is_local:
        # like with like: a GPU job records torch.cuda.max_memory_reserved (allocator peak + slack), which holds
        # no CUDA context; the plan's peak adds the context on top
        estimated_peak = max(estimated_peak - CUDA_CONTEXT_GIB, 0.0) or None
    sample = Sample(run_id=record.id, gpu=s.offer.gpu or ("cpu (local)" if s.is_local else "unknown"),
                    method=s.method or "unknown", estimated_hours=_unscaled(s.estimated_hours, applied.get("hours")),
                    actual_hours=actual, estimated_peak_gib=estimated_peak, peak_memory_gib=s.peak_memory_gib)
    hours_pair = sample.estimated_hours and sample.actual_hours is not None
    memory_pair = sample.estimated_peak_gib and sample.peak_memory_gib is not None
    if not hours_pair and not memory_pair:
        return None, f"{record.id}: no plan estimate recorded (launched without a plan)"
    return sample, ""


def _ratio(samples: list[Sample], measured: str, estimated: str) -> Optional[float]:
    ratios = [getattr(s, measured) / getattr(s, estimated) for s in samples
              if getattr(s, estimated) and getattr(s, measured) is not None]
    return median(ratios) if ratios else None


def _median(samples: list[Sample], field: str) -> Optional[float]:
    values = [getattr(s, field) for s in samples if getattr(s, field) is not None]
    return median(values) if values else None


def calibrate(records: list[RunRecord]) -> Calibration:
    """Group succeeded runs by (GPU, method) and compare measured to estimated hours and memory."""
    groups: dict[tuple[str, str], list[Sample]] = {}
    skipped = []
    for record in records:
        sample, why = _sample(record)
        if sample is None:
            skipped.append(why)
            continue
        groups.setdefault((sample.gpu, sample.method), []).append(sample)
    rows = [
        CalibrationRow(
            gpu=gpu, method=method, runs=len(samples), run_ids=[s.run_id for s in samples],
            estimated_hours=_median(samples, "estimated_hours"), actual_hours=_median(samples, "actual_hours"),
            hours_factor=_ratio(samples, "actual_hours", "estimated_hours"),
            estimated_peak_gib=_median(samples, "estimated_peak_gib"),
            peak_memory_gib=_median(samples, "peak_memory_gib"),
            memory_factor=_ratio(samples, "peak_memory_gib", "estimated_peak_gib"),
        )
        for (gpu, method), samples in sorted(groups.items())
    ]
    return Calibration(rows=rows, skipped=skipped, rates=learn_rates(records))


def calibration_path(home: Optional[Path] = None) -> Path:
    return corrections_path(home)


def _sane(factor: Optional[float]) -> bool:
    return factor is not None and SANE_FACTOR[0] <= factor <= SANE_FACTOR[1]


def apply(calibration: Calibration, home: Optional[Path] = None) -> tuple[Path, list[Correction], list[str]]:
    """Store the sane factors (merged over earlier ones, per GPU and method); returns path, stored, refused."""
    stored = {(f.gpu, f.method): f for f in load_factors(home)}
    refused = []
    for row in calibration.rows:
        hours = row.hours_factor if _sane(row.hours_factor) else None
        memory = row.memory_factor if _sane(row.memory_factor) else None
        for name, value, kept in (("hours", row.hours_factor, hours), ("memory", row.memory_factor, memory)):
            if value is not None and kept is None:
                refused.append(f"{row.gpu} {row.method}: {name} factor {value:.3g} outside "
                               f"{SANE_FACTOR[0]}..{SANE_FACTOR[1]}, not stored; check runs {', '.join(row.run_ids)}")
        if hours is None and memory is None:
            continue
        before = stored.get((row.gpu, row.method))
        if before is not None:  # a refused or missing factor keeps the one stored earlier
            hours = hours if hours is not None else before.hours_factor
            memory = memory if memory is not None else before.memory_factor
        stored[(row.gpu, row.method)] = Correction(gpu=row.gpu, method=row.method, hours_factor=hours,
                                               memory_factor=memory, runs=row.runs, run_ids=row.run_ids)
    path = calibration_path(home)
    tunecost_home(home).mkdir(parents=True, exist_ok=True)
    rates = {(r.provider, r.min_gpus): r for r in [*load_corrections(home).preemption, *calibration.rates]}
    payload = Corrections(updated_at=now(), factors=sorted(stored.values(), key=lambda f: (f.gpu, f.method)),
                          preemption=sorted(rates.values(), key=lambda r: (r.provider, r.min_gpus)))
    write_output(path, payload.model_dump_json(indent=2) + "\n", "calibration file")
    return path, payload.factors, refused


def load_factors(home: Optional[Path] = None) -> list[Correction]:
    """Stored correction factors ([] if none yet); a damaged file is one clear error."""
    return load_corrections(home).factors
