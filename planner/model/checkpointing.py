"""When the job checkpoints, and what checkpoints and interruptions add to the hours.

The interval is Daly's higher-order estimate of the optimum (Daly 2006, "A higher order estimate of the optimum
checkpoint interval for restart dumps", FGCS 22(3); to first order Young's sqrt(2 C / rate)): frequent enough that
an interruption loses little, rare enough that writing checkpoints costs little. The expected hours are Daly's
exponential model: work cut into n equal segments, each followed by a checkpoint write of C hours; interruptions
arrive at `rate` per hour; each costs a restart of R hours (provisioning, setup, model download) plus the work
since the last checkpoint. A segment of t hours then takes M e^(R/M) (e^((t+C)/M) - 1) hours on average, M = 1/rate.
The job saves at the interval only (no extra checkpoint at the end, where it saves its outputs), so n segments
make n - 1 writes. How fast a node writes is the provider's (`Provider.checkpoint_storage`).
"""

from __future__ import annotations

import math

from pydantic import BaseModel


def daly_interval(write_hours: float, rate: float) -> float:
    """Hours of work between checkpoints that minimise the expected run time (Daly 2006, eq. 37); inf when
    nothing interrupts the run."""
    if rate <= 0:
        return math.inf
    mtbf = 1.0 / rate
    if write_hours <= 0:
        return 0.0
    if write_hours >= 2 * mtbf:
        return mtbf
    x = write_hours / (2 * mtbf)
    return math.sqrt(2 * write_hours * mtbf) * (1 + math.sqrt(x) / 3 + x / 9) - write_hours


class RunTime(BaseModel):
    """Expected hours of the training loop with its checkpoints and interruptions, split by cause."""

    segments: int
    checkpoints: float
    rework: float

    @property
    def extra(self) -> float:
        return self.checkpoints + self.rework


def expected_time(work: float, interval: float, write_hours: float, restart_hours: float, rate: float) -> RunTime:
    """Daly's exponential model (module docstring) for `work` hours of training saved every `interval` hours."""
    segments = 1 if not math.isfinite(interval) or interval <= 0 or work <= interval else math.ceil(work / interval)
    t = work / segments
    writes = (segments - 1) * write_hours
    if rate <= 0:
        return RunTime(segments=segments, checkpoints=writes, rework=0.0)
    mtbf = 1.0 / rate
    one = mtbf * math.exp(restart_hours / mtbf)
    total = (segments - 1) * one * math.expm1((t + write_hours) / mtbf) + one * math.expm1(t / mtbf)
    return RunTime(segments=segments, checkpoints=writes, rework=max(total - work - writes, 0.0))
