"""$TUNECOST_HOME: the one folder where refreshed prices, learned corrections, the ledger and local runs live.

WHY in the planner: `tunecost plan` reads refreshed prices and calibration.json from it without importing the
launcher, and the launcher's ledger must agree on the same folder; one helper, no pandas, so both can import it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


def tunecost_home(home: Optional[Path] = None) -> Path:
    """$TUNECOST_HOME (~ expanded), else ~/.tunecost; an explicit argument wins (tests, --home)."""
    if home is not None:
        return Path(home)
    env = os.environ.get("TUNECOST_HOME")
    return Path(env).expanduser() if env else Path.home() / ".tunecost"
