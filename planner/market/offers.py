"""Offers: every priced GPU instance we know, from shipped tables, refreshed tables and the user's own CSV.

Layers, later wins: shipped tables (pricing_data/offers.csv, then pricing_data/list_prices.csv gap fills)
< refreshed tables under $TUNECOST_HOME/prices/<provider>.csv (a refreshed provider replaces all its shipped
rows) < `--prices FILE` (a row replaces the row with the same provider, region, zone and instance_type).
Every row keeps its as-of date and source, so each quote can say where its price came from and how old it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Optional

import pandas as pd

from tunecost.planner.errors import UserError
from tunecost.planner.market.gpus import load_gpus
from tunecost.planner.home import tunecost_home
from tunecost.planner.market.offer_table import FLOAT_COLUMNS, OFFER_COLUMNS, TEXT_COLUMNS, conform
from tunecost.planner.market.user_prices import read_user_prices

KEY = ["provider", "region", "zone", "instance_type"]

SHIPPED_FILES = ("offers.csv", "list_prices.csv")
SNAPSHOT_AS_OF = "undated snapshot (after 2025-09-10)"
UNDATED_WARNING = ("prices are from an undated snapshot taken after 2025-09-10 ({providers}); "
                   "run `tunecost prices refresh`")
STALE_DAYS = 90
# x the datasheet GB: 24 GB (decimal) is 22.35 GiB (0.931); a driver also keeps some back. Wider is another variant.
SAME_CHIP = (0.92, 1.02)
STALE_WARNING = ("prices in use are older than {days} days (oldest {oldest}: {providers}); "
                 "run `tunecost prices refresh` or pass --prices FILE")


@dataclass(frozen=True)
class PriceTables:
    """The merged offer table plus what the user must know about it (age, origin)."""

    offers: pd.DataFrame
    as_of: str
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    user_warnings: list[str] = field(default_factory=list)  # about the user's --prices file, whatever is filtered
    today: date = field(default_factory=date.today)

    def age_of(self, offers: pd.DataFrame) -> tuple[str, list[str]]:
        """The as-of label and warnings of the offers a plan kept (its --providers, --gpu, ...), so an age
        warning names only providers the user asked for."""
        as_of, warnings = staleness(offers, self.today)
        return as_of, [*warnings, *self.user_warnings]


def prices_dir(home: Optional[Path] = None) -> Path:
    """Where `tunecost prices refresh` writes one <provider>.csv per provider."""
    return tunecost_home(home) / "prices"


def read_offer_table(source: object) -> pd.DataFrame:
    """Read a table we wrote ourselves (shipped or refreshed): fast pandas path, no per-row validation."""
    df = pd.read_csv(source, dtype={c: str for c in TEXT_COLUMNS}, keep_default_na=False,
                     na_values={c: [""] for c in FLOAT_COLUMNS + ["gpu_count"]})
    missing = [c for c in OFFER_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{source}: not a tunecost price table (missing columns {', '.join(missing)}); "
                        "run `tunecost prices refresh` again or delete the file")
    return conform(df)


def override(base: pd.DataFrame, top: pd.DataFrame) -> pd.DataFrame:
    """Rows of `top` replace rows of `base` with the same KEY; the others are added."""
    if top.empty:
        return base
    keys = pd.MultiIndex.from_frame(top[KEY])
    kept = base[~pd.MultiIndex.from_frame(base[KEY]).isin(keys)]
    return pd.concat([kept, top], ignore_index=True)


def fill_gpu_memory(df: pd.DataFrame) -> pd.DataFrame:
    """Per-GPU memory from gpus.csv where the catalog left it empty (Azure, Nebius, IBM, user rows)."""
    known = pd.Series({name: spec.memory_gib for name, spec in load_gpus().items()})
    df["gpu_memory_gib"] = df["gpu_memory_gib"].fillna(df["gpu"].map(known))
    return df


def usable_gpu_memory(df: pd.DataFrame) -> pd.DataFrame:
    """One GiB figure per GPU model for the fit decision: the smallest any offer states for that chip.

    WHY: providers state one chip's memory in different units. RunPod and Shadeform put marketing GB in a MiB
    field (L4 24, L40S 48), AWS and Vast report what the driver sees (L4 22.4, L40S 44.7, H100 79.6), so the same
    job fitted one provider's L4 and not another's. Figures within SAME_CHIP of the datasheet figure in gpus.csv
    are one chip; others are another variant (a 48 GB RTX 4090, an 8 GB RTX 3060) and keep their own figure.
    """
    datasheet = df["gpu"].map(pd.Series({name: spec.memory_gib for name, spec in load_gpus().items()}, dtype=float))
    same = df["gpu_memory_gib"].between(datasheet * SAME_CHIP[0], datasheet * SAME_CHIP[1])
    smallest = df["gpu_memory_gib"].where(same).groupby(df["gpu"]).transform("min")
    df.loc[same, "gpu_memory_gib"] = smallest[same]
    return df


NAMED = 6  # providers a warning names before it says "and N more" (--providers narrows the list)


def _some(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= NAMED else f"{', '.join(names[:NAMED - 1])} and {len(names) - NAMED + 1} more"


def staleness(offers: pd.DataFrame, today: date) -> tuple[str, list[str]]:
    """The as-of label for the whole table and the warnings: undated rows, or dated rows over STALE_DAYS."""
    warnings = []
    undated = offers["as_of"] == ""
    if undated.any():
        warnings.append(UNDATED_WARNING.format(providers=_some(sorted(offers.loc[undated, "provider"].unique()))))
    dated = offers.loc[~undated, ["as_of", "provider"]]
    oldest = dated["as_of"].min() if not dated.empty else None
    if oldest is not None and (today - date.fromisoformat(oldest)).days > STALE_DAYS:
        cutoff = date.fromordinal(today.toordinal() - STALE_DAYS).isoformat()
        old = sorted(dated.loc[dated["as_of"] < cutoff, "provider"].unique())
        warnings.append(STALE_WARNING.format(days=STALE_DAYS, oldest=oldest, providers=_some(old)))
    as_of = SNAPSHOT_AS_OF if undated.any() else (oldest or "")
    return as_of, warnings


def load_prices(user_csv: Optional[Path] = None, home: Optional[Path] = None,
                today: Optional[date] = None) -> PriceTables:
    """Merge shipped < refreshed < user tables into one offer table with its age, warnings and sources."""
    data = files("tunecost.pricing_data")
    offers = pd.DataFrame(columns=OFFER_COLUMNS)
    sources = []
    for name in SHIPPED_FILES:
        res = data.joinpath(name)
        if res.is_file():
            with res.open("r", encoding="utf-8") as fh:
                offers = override(offers, read_offer_table(fh)) if not offers.empty else read_offer_table(fh)
            sources.append(f"tunecost.pricing_data/{name}")

    refreshed = prices_dir(home)
    for path in sorted(refreshed.glob("*.csv")) if refreshed.is_dir() else []:
        table = read_offer_table(path)
        offers = pd.concat([offers[~offers["provider"].isin(table["provider"].unique())], table],
                           ignore_index=True)
        sources.append(str(path))

    user_warnings: list[str] = []
    if user_csv is not None:
        user, user_warnings = read_user_prices(Path(user_csv))
        offers = override(offers, user)
        sources.append(str(user_csv))

    offers = usable_gpu_memory(fill_gpu_memory(conform(offers)))
    today = today or date.today()
    as_of, warnings = staleness(offers, today)
    return PriceTables(offers=offers, as_of=as_of, warnings=[*warnings, *user_warnings], sources=sources,
                       user_warnings=user_warnings, today=today)
