"""Correction factors learned from finished runs (`tunecost calibrate --apply`), for later plans to use and show.

WHY in the planner: a plan must be able to apply "our last runs on A100 QLoRA took 1.2x the estimate" without
importing the launcher. The launcher writes $TUNECOST_HOME/calibration.json in this schema; the planner reads it.
Pure: text in, models out (plus one small file read), no network.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ValidationError

from tunecost.job.numbers import Positive, loads
from tunecost.planner.errors import UserError
from tunecost.planner.home import tunecost_home

CALIBRATION_FILE = "calibration.json"


class Correction(BaseModel):
    """Multiply the planner's hours (peak memory) for this GPU and method by these factors."""

    gpu: str
    method: str
    hours_factor: Optional[Positive] = None
    memory_factor: Optional[Positive] = None
    runs: int
    run_ids: list[str]


class LearnedRate(BaseModel):
    """Spot preemptions per instance-hour on one provider and instance class (1 GPU, or 8 and more), counted from
    the recoveries of finished managed runs: recoveries / (hours x nodes)."""

    provider: str
    min_gpus: int
    rate: float
    recoveries: int
    node_hours: float
    runs: int
    run_ids: list[str]


class Corrections(BaseModel):
    version: int = 1
    updated_at: Optional[datetime] = None
    factors: list[Correction] = []
    preemption: list[LearnedRate] = []

    def find(self, gpu: str, method: str) -> Optional[Correction]:
        """The factor for this GPU (case-insensitive) and method, if one was learned."""
        for f in self.factors:
            if f.gpu.lower() == gpu.lower() and f.method.lower() == method.lower():
                return f
        return None

    def adjust_hours(self, hours: float, gpu: str, method: str) -> tuple[float, Optional[str]]:
        """Hours after correction, and the assumption line a plan shows (None when nothing applies)."""
        return self._adjust(hours, gpu, method, "hours_factor", "hours")

    def adjust_memory(self, gib: float, gpu: str, method: str) -> tuple[float, Optional[str]]:
        """Peak GiB after correction, and the assumption line (None when nothing applies)."""
        return self._adjust(gib, gpu, method, "memory_factor", "peak memory")

    def _adjust(self, value: float, gpu: str, method: str, field: str, what: str) -> tuple[float, Optional[str]]:
        f = self.find(gpu, method)
        factor = getattr(f, field) if f is not None else None
        if factor is None:
            return value, None
        return value * factor, (f"{what} x{factor:.3f} for {f.gpu} {f.method}, learned from "
                                f"{f.runs} finished run{'s' if f.runs != 1 else ''} (tunecost calibrate)")


def parse_corrections(text: str, where: str = "calibration.json") -> Corrections:
    """Corrections from JSON text; a damaged file is one clear line saying how to fix it."""
    try:
        return Corrections.model_validate(loads(text))
    except (ValueError, ValidationError, RecursionError) as err:
        first = str(err).splitlines()[0]
        raise UserError(f"{where} is not a tunecost calibration file ({first}); "
                        "delete it and run tunecost calibrate --apply again") from None


def read_corrections(path: Path) -> Corrections:
    """Corrections stored at `path`; none (an empty set) when the file does not exist yet."""
    if not path.exists():
        return Corrections()
    return parse_corrections(path.read_text(encoding="utf-8"), where=str(path))


def corrections_path(home: Optional[Path] = None) -> Path:
    """$TUNECOST_HOME/calibration.json: written by `tunecost calibrate --apply`, read by plan and estimate."""
    return tunecost_home(home) / CALIBRATION_FILE


def load_corrections(home: Optional[Path] = None) -> Corrections:
    """The stored corrections of this home (none when calibrate --apply has not run yet)."""
    return read_corrections(corrections_path(home))
