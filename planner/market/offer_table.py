"""The offer table's schema: its columns and their dtypes, shared by every reader and writer of offer rows.

WHY a module of its own: offers.py (merging the tables) reads the user's CSV through user_prices.py, and
user_prices.py returns its rows in this schema; with the schema here neither has to import the other back.
"""

from __future__ import annotations

import pandas as pd

OFFER_COLUMNS = ["provider", "region", "zone", "instance_type", "gpu", "gpu_count", "gpu_memory_gib",
                 "vcpus", "memory_gib", "price_per_hour", "spot_price_per_hour", "as_of", "source", "flag"]
TEXT_COLUMNS = ["provider", "region", "zone", "instance_type", "gpu", "as_of", "source", "flag"]
FLOAT_COLUMNS = ["gpu_memory_gib", "vcpus", "memory_gib", "price_per_hour", "spot_price_per_hour"]


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Exactly OFFER_COLUMNS with fixed dtypes: text '' for missing, floats NaN, gpu_count int."""
    out = df[OFFER_COLUMNS].copy()
    for col in TEXT_COLUMNS:
        out[col] = out[col].fillna("").astype(str)
    for col in FLOAT_COLUMNS:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    out["gpu_count"] = pd.to_numeric(out["gpu_count"]).astype(int)
    return out.reset_index(drop=True)
