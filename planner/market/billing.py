"""Billed time: what a provider charges for, given the seconds an instance actually ran.

WHY: providers meter differently (AWS per second with a 60 s minimum, Lambda per started minute, Azure per full
minute), and a short run's bill is dominated by that rule. The rules live in the provider table
(pricing_data/providers.csv; `Provider.billing` in planner/market/providers.py), each with its source and the date
it was read, so a summary can say which rule it applied and why, and the plan's cost and the bill use one rule.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field


SECONDS_PER_HOUR = 3600.0


class BillingRule(BaseModel):
    """How one provider turns running seconds into billed seconds."""

    provider: str
    granularity_seconds: int = Field(gt=0, description="billing increment")
    minimum_seconds: int = Field(ge=0, description="minimum billed per instance start")
    rounding: Literal["up", "down"] = "up"
    source_url: str = ""
    as_of: str = ""
    notes: str = ""
    known: bool = True

    def describe(self) -> str:
        """One line a reader can check against the provider's page, e.g. 'per second, 60 s minimum'."""
        if self.granularity_seconds == 1:
            unit = "per second"
        elif self.granularity_seconds % 60 == 0:
            minutes = self.granularity_seconds // 60
            unit = "per minute" if minutes == 1 else f"per {minutes} minutes"
            unit += " (partial rounded down)" if self.rounding == "down" else " (partial rounded up)"
        else:
            unit = f"per {self.granularity_seconds} s"
        minimum = f", {self.minimum_seconds} s minimum" if self.minimum_seconds else ""
        guess = "" if self.known else " (unknown provider: assumed)"
        return f"{unit}{minimum}{guess}"


def billed_seconds(actual_seconds: float, rule: BillingRule) -> int:
    """Seconds the provider bills for one instance that ran `actual_seconds` (0 if it never ran)."""
    if actual_seconds < 0:
        raise ValueError(f"negative running time: {actual_seconds} s")
    if actual_seconds == 0:
        return 0
    seconds = max(actual_seconds, rule.minimum_seconds)
    steps = seconds / rule.granularity_seconds
    # A float a hair above a whole number (from datetime arithmetic) must not cost a whole extra step.
    whole = math.floor(steps + 1e-9) if rule.rounding == "down" else math.ceil(steps - 1e-9)
    return int(whole) * rule.granularity_seconds


def billed_hours(actual_seconds: float, rule: BillingRule) -> float:
    """billed_seconds in hours, the unit prices are quoted in."""
    return billed_seconds(actual_seconds, rule) / SECONDS_PER_HOUR
