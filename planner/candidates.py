"""Which offers the optimizer prices: filtered by the user's flags, one row per provider x GPU x count x spot.

Works on the whole price table at once with pandas (thousands of rows, no per-row Python), and keeps the region
and zone of the cheapest row of each group, since that is where the launcher will ask for capacity first.
"""

from __future__ import annotations

from typing import Iterable, Optional

import pandas as pd

from tunecost.planner.errors import UserError
from tunecost.planner.market.gpus import get_gpu, load_gpus
from tunecost.planner.spec import Precision

SPOT_CHOICES = ("any", "spot", "on-demand")
KEY = ["provider", "gpu", "gpu_count", "spot"]


def split_names(values: Optional[Iterable[str]]) -> list[str]:
    """Accept repeated flags and comma-separated lists alike: ['aws,gcp', 'lambda'] -> ['aws', 'gcp', 'lambda']."""
    return [part.strip() for value in values or () for part in str(value).split(",") if part.strip()]


def _filter(offers: pd.DataFrame, column: str, wanted: list[str], flag: str) -> pd.DataFrame:
    if not wanted:
        return offers
    lowered = offers[column].astype(str).str.lower()
    unknown = sorted({w for w in wanted if w.lower() not in set(lowered)})
    if unknown:
        known = ", ".join(sorted(offers[column].astype(str).unique())[:40])
        raise UserError(f"{flag}: no offers for {', '.join(unknown)}; known: {known}")
    return offers[lowered.isin([w.lower() for w in wanted])]


def select_offers(offers: pd.DataFrame, *, providers=None, gpus=None, spot: str = "any", max_gpus: int = 8,
                  regions=None, precision: Optional[Precision] = None) -> tuple[pd.DataFrame, list[str]]:
    """Cheapest row per provider x GPU x count x spot, with a `price` and a `spot` column; plus warnings."""
    if spot not in SPOT_CHOICES:
        raise UserError(f"spot must be one of {', '.join(SPOT_CHOICES)} (got {spot!r})")
    if max_gpus < 1:
        raise UserError(f"--max-gpus must be at least 1 (got {max_gpus})")
    warnings: list[str] = []
    usable = offers[offers["flag"].fillna("").astype(str) == ""]
    usable = _filter(usable, "provider", split_names(providers), "--providers")
    usable = _filter(usable, "region", split_names(regions), "--region")
    wanted_gpus = [get_gpu(name).name for name in split_names(gpus)]
    usable = _filter(usable, "gpu", wanted_gpus, "--gpu")
    usable = usable[usable["gpu_count"] <= max_gpus]

    known = load_gpus()
    unknown = sorted(set(usable["gpu"]) - set(known))
    if unknown:
        warnings.append(f"skipped offers of GPUs with no spec in gpus.csv: {', '.join(unknown)}")
        usable = usable[usable["gpu"].isin(list(known))]

    if not wanted_gpus:  # the job ships CUDA builds of torch and bitsandbytes: other vendors only when named
        other = sorted({g for g in usable["gpu"].unique() if known[g].vendor.upper() != "NVIDIA"})
        if other:
            warnings.append(f"left out non-NVIDIA GPUs ({', '.join(other)}): the job ships CUDA builds of torch and "
                            "bitsandbytes; name them with --gpu to price them anyway")
            usable = usable[~usable["gpu"].isin(other)]

    frames = []
    if spot in ("any", "on-demand"):
        frames.append(usable.assign(price=usable["price_per_hour"], spot=False))
    if spot in ("any", "spot"):
        frames.append(usable.assign(price=usable["spot_price_per_hour"], spot=True))
    rows = pd.concat(frames, ignore_index=True) if frames else usable.iloc[0:0]
    rows = rows[rows["price"].notna() & (rows["price"] > 0)]
    rows = rows.sort_values(["price", "provider", "region", "zone"], kind="stable")
    rows = _runnable(rows.drop_duplicates(KEY, keep="first"), precision, warnings).reset_index(drop=True)
    memory = rows["gpu"].map(lambda g: known[g].memory_gib)
    rows["gpu_memory_gib"] = rows["gpu_memory_gib"].fillna(memory)
    for column in ("zone", "as_of", "source"):
        rows[column] = rows[column].fillna("").astype(str)
    return rows, warnings


def pure_bf16_refusal(gpus: list[str]) -> str:
    """Why pure bf16 is not planned on these GPUs (GpuSpec.runs), and what to use instead."""
    names = ", ".join(gpus)
    return (f"--precision bf16 (pure bf16) needs a GPU with bf16, and {names} {'has' if len(gpus) == 1 else 'have'} "
            "none: use --precision bf16-mixed (fp16 mixed precision there) or an Ampere or newer GPU")


def _runnable(offers: pd.DataFrame, precision: Optional[Precision], warnings: list[str]) -> pd.DataFrame:
    """Leave out GPUs that cannot run the precision (GpuSpec.runs), or refuse when no other is left."""
    if precision is None or offers.empty:
        return offers
    known = load_gpus()
    lacking = sorted({g for g in offers["gpu"].unique() if not known[g].runs(precision)})
    if not lacking:
        return offers
    if set(lacking) == set(offers["gpu"].unique()):
        raise UserError(pure_bf16_refusal(lacking))
    warnings.append(f"left out {', '.join(lacking)}: no bf16, so --precision bf16 (pure bf16) would run emulated "
                    "there; --precision bf16-mixed runs fp16 mixed precision on them")
    return offers[~offers["gpu"].isin(lacking)]
