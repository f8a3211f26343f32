"""money(): how every table, report and message of tunecost shows an amount of US dollars.

One rule, so a plan, a run's report and the runs table print the same cost the same way: to the cent, and to
four places under ten cents (a small fine-tune costs fractions of a cent, which "$0.00" would hide).
"""

from __future__ import annotations

import math
from typing import Optional

SMALL_USD = 0.1  # below this (and above zero) four places, not two


def money(x: Optional[float], missing: str = "n/a") -> str:
    """'$1,234.50', '$0.0042', '-$0.50'; `missing` for None or NaN (an amount not known)."""
    if x is None or math.isnan(x):
        return missing
    sign = "-" if x < 0 else ""
    amount = abs(x)
    return f"{sign}${amount:.4f}" if 0 < amount < SMALL_USD else f"{sign}${amount:,.2f}"
